/** RFC 6455 §5.2 opcodes. */
export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

export function isKnownOpcode(opcode: number): boolean {
  return opcode <= OP_BINARY || (opcode >= OP_CLOSE && opcode <= OP_PONG);
}

/** RFC 6455 §5.5: control frames carry at most 125 bytes. */
export const MAX_CONTROL_PAYLOAD = 125;
