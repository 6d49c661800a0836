import { type Binding, type BindingInfo, bindingOf } from "../binding/bind.ts";
import { methodNameFor } from "../binding/method-name.ts";
import type { Service, UpgradeService } from "../server/service.ts";

/** A kind of message a service takes, and the method that handles it. */
export interface ServiceMessage {
  /** The dispatcher value of a custom-dispatched message; undefined for a generic one. */
  readonly value: string | undefined;
  /** "subscribe" for a custom message; "textMessage", "binaryMessage", "message" for generic ones. */
  readonly name: string;
  /** The handling method, undefined when the service was not described. */
  readonly method: string | undefined;
  readonly binding: Binding;
  readonly info: BindingInfo | undefined;
}

/** The constant a bound message's schema gives the dispatcher key, if any. */
export type ConstantOfKey = (info: BindingInfo) => string | undefined;

/** Methods that answer connection events, never messages (SPEC §4). */
const EVENT_METHODS = new Set(["onOpen", "onPing", "onPong", "onIdleTimeout", "onClose", "onError"]);
const GENERIC_METHODS = ["onTextMessage", "onBinaryMessage", "onMessage"] as const;

/** The function-valued properties of an object and its prototypes, read without running getters. */
function methodsOf(service: object): Map<string, unknown> {
  const methods = new Map<string, unknown>();
  for (let target: object | null = service; target !== null && target !== Object.prototype; target = Object.getPrototypeOf(target) as object | null) {
    for (const name of Object.getOwnPropertyNames(target)) {
      const descriptor = Object.getOwnPropertyDescriptor(target, name);
      if (!methods.has(name) && typeof descriptor?.value === "function" && name !== "constructor") methods.set(name, descriptor.value);
    }
  }
  return methods;
}

/** "onSubscribe" → "subscribe", "onConnectionInit" → "connectionInit". */
function lowerCamel(methodName: string): string {
  const rest = methodName.slice(2);
  const first = String.fromCodePoint(rest.codePointAt(0) ?? 0x5f);
  return first.toLowerCase() + rest.slice(first.length);
}

/**
 * The dispatcher value a custom method answers to. The name rule (SPEC §6) loses the
 * separators ("connection_init" and "connectionInit" both name onConnectionInit), so: a
 * constant the bound schema gives the key, when the rule maps it to this method; else the
 * name without "on", lower-camel ("onSubscribe" → "subscribe"). `dispatcherMapping` is
 * read before either.
 */
function dispatcherValueOf(methodName: string, info: BindingInfo | undefined, constantOfKey: ConstantOfKey): string {
  if (info !== undefined) {
    const constant = constantOfKey(info);
    if (constant !== undefined && methodNameFor(constant) === methodName) return constant;
  }
  return lowerCamel(methodName);
}

/**
 * The service to read methods from. `describe` is typed as a class with a no-argument
 * constructor, but JavaScript callers can pass any class: one that needs its arguments
 * gets a message saying what to pass instead of the TypeError from inside its constructor.
 */
function instantiate(describe: Service | (new () => Service), path: string): object {
  if (typeof describe !== "function") return describe;
  try {
    return new describe();
  } catch (cause) {
    const name = describe.name === "" ? "the class" : describe.name;
    throw new TypeError(
      `toAsyncAPI: describe for ${path} could not construct ${name} without arguments (${cause instanceof Error ? cause.message : String(cause)}); ` +
        `pass an instance instead, e.g. describe: new ${name}(…)`,
      { cause },
    );
  }
}

/** The messages a client may send to an attached service, from its `describe` service and config. */
export function serviceMessages(upgradeService: UpgradeService, path: string, constantOfKey: ConstantOfKey): ServiceMessage[] {
  if (upgradeService.describe === undefined) {
    return [
      { value: undefined, name: "textMessage", method: undefined, binding: "text", info: undefined },
      { value: undefined, name: "binaryMessage", method: undefined, binding: "binary", info: undefined },
    ];
  }
  const methods = methodsOf(instantiate(upgradeService.describe, path));
  const config = upgradeService.config ?? {};
  const messages: ServiceMessage[] = [];
  const key = config.dispatcherKey;
  if (key !== undefined) {
    const mapping = config.dispatcherMapping ?? {};
    const mapped = new Set(Object.values(mapping));
    for (const [value, methodName] of Object.entries(mapping)) {
      if (!methods.has(methodName)) continue;
      const info = bindingOf(methods.get(methodName));
      messages.push({ value, name: value, method: methodName, binding: info?.binding ?? "json", info });
    }
    for (const [methodName, method] of methods) {
      if (!/^on[^\p{Ll}]/u.test(methodName) || mapped.has(methodName) || EVENT_METHODS.has(methodName)) continue;
      if ((GENERIC_METHODS as readonly string[]).includes(methodName)) continue;
      // onSubscribeError answers a failed onSubscribe; without onSubscribe it is a message "subscribeError".
      const failing = /^(on.+)Error$/u.exec(methodName)?.[1];
      if (failing !== undefined && (methods.has(failing) || mapped.has(failing) || (GENERIC_METHODS as readonly string[]).includes(failing))) continue;
      const info = bindingOf(method);
      const value = dispatcherValueOf(methodName, info, constantOfKey);
      // A value the mapping sends elsewhere never reaches this method.
      if (Object.hasOwn(mapping, value)) continue;
      messages.push({ value, name: value, method: methodName, binding: info?.binding ?? "json", info });
    }
  }
  const has = (name: string): boolean => methods.has(name);
  if (has("onTextMessage")) messages.push(generic("textMessage", "onTextMessage", "text", methods));
  if (has("onBinaryMessage")) messages.push(generic("binaryMessage", "onBinaryMessage", "binary", methods));
  // onMessage takes what the other two leave.
  if (has("onMessage") && !(has("onTextMessage") && has("onBinaryMessage"))) messages.push(generic("message", "onMessage", "json", methods));
  return messages;
}

function generic(name: string, methodName: string, fallback: Binding, methods: Map<string, unknown>): ServiceMessage {
  const info = bindingOf(methods.get(methodName));
  return { value: undefined, name, method: methodName, binding: info?.binding ?? fallback, info };
}
