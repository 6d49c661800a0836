import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * @internal Bounds on what a PHC string may ask of scrypt. A user store file is configuration, but a
 * wrong one must not make every upgrade cost seconds of CPU or gigabytes of memory: N·r·p
 * at most 2^20 (four times `hashPassword`'s cost) and 128·N·r at most 256 MiB.
 */
export const SCRYPT_LIMITS = {
  maxLn: 20,
  maxR: 32,
  maxP: 16,
  maxWork: 2 ** 20,
  maxMemory: 256 * 1024 * 1024,
  minSaltBytes: 8,
  maxSaltBytes: 64,
  minHashBytes: 16,
  maxHashBytes: 64,
} as const;

/** @internal A parsed `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` string. */
export interface ScryptPhc {
  /** log2 of scrypt's cost N. */
  readonly ln: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
  /** The salt's decoded bytes. */
  readonly salt: Buffer;
  /** The expected key; its length is the key length derived. */
  readonly hash: Buffer;
}

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** @internal Whether a stored password is meant as a PHC string rather than a plain password. */
export function isScryptPhc(stored: string): boolean {
  return stored.startsWith("$scrypt$");
}

/**
 * @internal Parses a PHC string and checks it against {@link SCRYPT_LIMITS}.
 * @throws RangeError saying what is wrong (the caller names the file and user).
 */
export function parseScryptPhc(text: string): ScryptPhc {
  const match = PHC.exec(text);
  if (match === null) throw new RangeError("not a PHC string of the form $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash> (unpadded base64)");
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const salt = decodeUnpadded(match[4]!, "salt");
  const hash = decodeUnpadded(match[5]!, "hash");
  const l = SCRYPT_LIMITS;
  if (ln < 1 || ln > l.maxLn) throw new RangeError(`ln must be 1 to ${l.maxLn}, got ${ln}`);
  if (r < 1 || r > l.maxR) throw new RangeError(`r must be 1 to ${l.maxR}, got ${r}`);
  if (p < 1 || p > l.maxP) throw new RangeError(`p must be 1 to ${l.maxP}, got ${p}`);
  if (2 ** ln * r * p > l.maxWork) throw new RangeError(`N·r·p must be at most 2^20, got 2^${ln}·${r}·${p}`);
  if (128 * 2 ** ln * r > l.maxMemory) throw new RangeError(`128·N·r must be at most 256 MiB, got 2^${ln}·${r}`);
  if (salt.length < l.minSaltBytes || salt.length > l.maxSaltBytes) {
    throw new RangeError(`the salt must be ${l.minSaltBytes} to ${l.maxSaltBytes} bytes, got ${salt.length}`);
  }
  if (hash.length < l.minHashBytes || hash.length > l.maxHashBytes) {
    throw new RangeError(`the hash must be ${l.minHashBytes} to ${l.maxHashBytes} bytes, got ${hash.length}`);
  }
  return { ln, r, p, salt, hash };
}

/** @internal Whether `password` derives the PHC's hash; the comparison takes the same time wherever the keys differ. */
export async function verifyScryptPhc(password: string, phc: ScryptPhc): Promise<boolean> {
  const key = await deriveKey(password, phc.salt, phc.hash.length, phc);
  return timingSafeEqual(key, phc.hash);
}

/** The PHC string of a new password: ln=15, r=8, p=1, a random 16-byte salt, a 32-byte hash. */
export async function hashPassword(password: string): Promise<string> {
  const params = { ln: 15, r: 8, p: 1 };
  const salt = randomBytes(16);
  const key = await deriveKey(password, salt, 32, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${encodeUnpadded(salt)}$${encodeUnpadded(key)}`;
}

function deriveKey(password: string, salt: Buffer, keyLength: number, params: { ln: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** params.ln;
  // Node refuses above 32 MiB by default, which ln=15, r=8 already needs: room for V and B, plus slack.
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * params.r * (N + params.p) + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

function decodeUnpadded(text: string, what: string): Buffer {
  // Standard base64 leaves 2 or 3 characters in a last group, never 1.
  if (text.length % 4 === 1) throw new RangeError(`the ${what} is not unpadded standard base64`);
  return Buffer.from(text, "base64");
}

function encodeUnpadded(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "");
}
