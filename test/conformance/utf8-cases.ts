/**
 * The UTF-8 sequences of Autobahn's cases 6.5–6.23, which come from Markus Kuhn's
 * "UTF-8 decoder capability and stress test" (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt),
 * numbered as Autobahn numbers them: 6.<group>.<index>.
 */
export interface Utf8Case {
  id: string;
  group: string;
  bytes: Buffer;
  valid: boolean;
}

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ""), "hex");

/** κόσμε: Greek, 2- and 3-byte sequences. */
export const KOSME = h("ce ba e1 bd b9 cf 83 ce bc ce b5");

function groups(): [string, [boolean, Buffer][]][] {
  const all: [string, [boolean, Buffer][]][] = [];
  const ascii = (s: string): Buffer => Buffer.from(s, "latin1");
  const hello = (mid: string): Buffer => Buffer.concat([ascii("hello"), h(mid), ascii("world")]);

  all.push(["Some valid UTF-8 sequences", [[true, hello("24")], [true, hello("c2 a2")], [true, hello("e2 82 ac")], [true, hello("f0 a4 ad a2")], [true, KOSME]]]);

  const prefixes: [boolean, Buffer][] = [];
  const boundaries = new Set([2, 5, 7, 9, 11]);
  for (let i = 1; i <= KOSME.length; i++) prefixes.push([boundaries.has(i), KOSME.subarray(0, i)]);
  all.push(["All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes]);

  all.push(["First possible sequence of a certain length", [[true, h("00")], [true, h("c2 80")], [true, h("e0 a0 80")], [true, h("f0 90 80 80")]]]);
  all.push(["First possible sequence length 5/6 (invalid codepoints)", [[false, h("f8 88 80 80 80")], [false, h("fc 84 80 80 80 80")]]]);
  all.push(["Last possible sequence of a certain length", [[true, h("7f")], [true, h("df bf")], [true, h("ef bf bf")], [true, h("f4 8f bf bf")]]]);
  all.push(["Last possible sequence length 4/5/6 (invalid codepoints)", [[false, h("f7 bf bf bf")], [false, h("fb bf bf bf bf")], [false, h("fd bf bf bf bf bf")]]]);
  all.push([
    "Other boundary conditions",
    [[true, h("ed 9f bf")], [true, h("ee 80 80")], [true, h("ef bf bd")], [true, h("f4 8f bf bf")], [false, h("f4 90 80 80")]],
  ]);

  const continuation: [boolean, Buffer][] = [
    [false, h("80")],
    [false, h("bf")],
    [false, h("80 bf")],
    [false, h("80 bf 80")],
    [false, h("80 bf 80 bf")],
    [false, h("80 bf 80 bf 80")],
    [false, h("80 bf 80 bf 80 bf")],
  ];
  continuation.push([false, Buffer.from(Array.from({ length: 0xbf - 0x80 }, (_, i) => 0x80 + i))]);
  all.push(["Unexpected continuation bytes", continuation]);

  const lonely: [boolean, Buffer][] = [];
  for (const [from, to] of [
    [0xc0, 0xdf],
    [0xe0, 0xef],
    [0xf0, 0xf7],
    [0xf8, 0xfb],
    [0xfc, 0xfd],
  ] as const) {
    const bytes: number[] = [];
    for (let b = from; b < to; b++) bytes.push(b, 0x20);
    lonely.push([false, Buffer.from(bytes)]);
  }
  all.push(["Lonely start characters", lonely]);

  const missingLast = ["c0", "e0 80", "f0 80 80", "f8 80 80 80", "fc 80 80 80 80", "df", "ef bf", "f7 bf bf", "fb bf bf bf", "fd bf bf bf bf"].map(h);
  all.push(["Sequences with last continuation byte missing", missingLast.map((b): [boolean, Buffer] => [false, b])]);
  all.push(["Concatenation of incomplete sequences", [[false, Buffer.concat(missingLast)]]]);
  all.push(["Impossible bytes", [[false, h("fe")], [false, h("ff")], [false, h("fe fe ff ff")]]]);
  all.push([
    "Examples of an overlong ASCII character",
    ["c0 af", "e0 80 af", "f0 80 80 af", "f8 80 80 80 af", "fc 80 80 80 80 af"].map((x): [boolean, Buffer] => [false, h(x)]),
  ]);
  all.push([
    "Maximum overlong sequences",
    ["c1 bf", "e0 9f bf", "f0 8f bf bf", "f8 87 bf bf bf", "fc 83 bf bf bf bf"].map((x): [boolean, Buffer] => [false, h(x)]),
  ]);
  all.push([
    "Overlong representation of the NUL character",
    ["c0 80", "e0 80 80", "f0 80 80 80", "f8 80 80 80 80", "fc 80 80 80 80 80"].map((x): [boolean, Buffer] => [false, h(x)]),
  ]);
  all.push([
    "Single UTF-16 surrogates",
    ["ed a0 80", "ed ad bf", "ed ae 80", "ed af bf", "ed b0 80", "ed be 80", "ed bf bf"].map((x): [boolean, Buffer] => [false, h(x)]),
  ]);
  const highs = ["ed a0 80", "ed ad bf", "ed ae 80", "ed af bf"];
  const lows = ["ed b0 80", "ed bf bf"];
  const pairs: [boolean, Buffer][] = [];
  for (const high of highs) for (const low of lows) pairs.push([false, h(high + low)]);
  all.push(["Paired UTF-16 surrogates", pairs]);

  const nonCharacters: [boolean, Buffer][] = [[true, h("ef bf be")], [true, h("ef bf bf")]];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // over U+10FFFF
      if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
      for (const z3 of [0xbe, 0xbf]) nonCharacters.push([true, Buffer.from([z1, z2, 0xbf, z3])]);
    }
  }
  all.push(["Non-character code points (valid UTF-8)", nonCharacters]);
  all.push(["Unicode specials (i.e. replacement char)", ["b9", "ba", "bb", "bc", "bd", "be", "bf"].map((x): [boolean, Buffer] => [true, h(`ef bf ${x}`)])]);
  return all;
}

export const UTF8_CASES: Utf8Case[] = groups().flatMap(([group, sequences], g) =>
  sequences.map(([valid, bytes], i) => ({ id: `6.${g + 5}.${i + 1}`, group, bytes, valid })),
);
