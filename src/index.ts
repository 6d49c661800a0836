export { Listener } from "./server/listener.ts";
export type { ListenerConfiguration, Http1Settings, RequestLimits, SharedListenerConfiguration } from "./server/listener.ts";
export { Caller } from "./server/caller.ts";
export { Client } from "./client/client.ts";
export type { ClientClosure } from "./client/client.ts";
export type {
  ClientAuth,
  ClientConfiguration,
  ClientCookie,
  ClientSecureSocket,
  PingPongHandler,
  RetryConfig,
} from "./client/client-configuration.ts";
export type { HttpResponse, ResponseCookie } from "./client/opening-handshake.ts";
export type { CompressionOptions } from "./connection/compression.ts";
export type { BindingKind } from "./binding/kinds.ts";
export { bind } from "./server/bind.ts";
export type { BoundHandler } from "./server/bind.ts";
export type { Binding, BindingInfo, BindOptions, BoundMessage, JsonValue, WithBinding } from "./binding/bind.ts";
export type { Document } from "./binding/xml.ts";
export { toAsyncAPI } from "./asyncapi/asyncapi-document.ts";
export type { AsyncAPIOptions, DescribableListener } from "./asyncapi/asyncapi-document.ts";
export type {
  AsyncAPIChannel,
  AsyncAPICorrelationId,
  AsyncAPIDocument,
  AsyncAPIInfo,
  AsyncAPIMessage,
  AsyncAPIOperation,
  AsyncAPIOperationReply,
  AsyncAPIParameter,
  AsyncAPIReference,
  AsyncAPIServer,
  JsonSchema,
} from "./asyncapi/document.ts";
export type { JsonSchemaHook } from "./asyncapi/json-schema.ts";
export type { FileUserStoreConfig } from "./auth/file-user-store.ts";
export type { ListenerAuthConfig, Scopes } from "./auth/listener-auth.ts";
export type { Principal } from "./auth/principal.ts";
export { hashPassword } from "./auth/scrypt-phc.ts";
export type { RemoteAddress } from "./server/caller.ts";
export type {
  NotAService,
  Service,
  ServiceConfig,
  ServiceLiteral,
  ServiceMethods,
  UpgradeRequest,
  UpgradeResult,
  UpgradeService,
} from "./server/service.ts";
export {
  CloseFrame,
  closeFrame,
  GOING_AWAY,
  INTERNAL_SERVER_ERROR,
  INVALID_PAYLOAD,
  MESSAGE_TOO_BIG,
  NORMAL_CLOSURE,
  POLICY_VIOLATION,
  PROTOCOL_ERROR,
  UNSUPPORTED_DATA,
} from "./close-frame.ts";
export {
  AuthError,
  AuthnError,
  AuthzError,
  ConnectionClosureError,
  ConnectionError,
  CorruptedFrameError,
  HandshakeTimedOutError,
  InvalidContinuationFrameError,
  InvalidHandshakeError,
  PayloadBindingError,
  PayloadTooLargeError,
  PayloadValidationError,
  ReadTimedOutError,
  SslError,
  UpgradeError,
  WebSocketError,
  WriteTimedOutError,
} from "./errors.ts";
export type { UpgradeErrorOptions, WebSocketErrorCode, WebSocketErrorOptions } from "./errors.ts";
