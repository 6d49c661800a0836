import { type Binding, type BindOptions, type BoundMessage, withBinding, type WithBinding } from "../binding/bind.ts";
import type { Caller } from "./caller.ts";

/** A service method made by `bind`: it receives the Caller and the message as its binding delivers it. */
export type BoundHandler<B extends Binding> = WithBinding<(caller: Caller, message: BoundMessage<B>) => unknown>;

/**
 * Declares what a service method receives, since TypeScript types vanish at run time:
 * `onSubscribe = bind(SubscribeSchema, (caller, msg) => …)` gets `msg` typed and validated.
 */
export function bind<const B extends Binding>(
  binding: B,
  handler: (caller: Caller, message: BoundMessage<B>) => unknown,
  options: BindOptions = {},
): BoundHandler<B> {
  return withBinding(binding, handler, options);
}
