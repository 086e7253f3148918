import { NotCanonicalJsonError } from './audit-errors';
import { canonicalJson, canonicalJsonBytes } from './canonical-json';

/** An IEEE-754 double from its bit pattern, as RFC 8785 Appendix B lists them. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('RFC 8785 canonical JSON', () => {
  describe('the RFC examples', () => {
    // §3.2.2, parsed from the RFC's own text with its escapes and number spellings.
    const example = JSON.parse(
      String.raw`{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
        "literals": [null, true, false]
      }`,
    ) as unknown;

    it('§3.2.2/§3.2.3: primitives are serialised the ECMAScript way and members sorted', () => {
      expect(canonicalJson(example)).toBe(
        String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
      );
    });

    it('§3.2.4: the canonical bytes are the RFC’s UTF-8', () => {
      const rfcHex = `
        7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
        75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
        5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
        65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
        5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
        30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`.replace(/\s+/g, '');
      expect(canonicalJsonBytes(example).toString('hex')).toBe(rfcHex);
    });

    it('§3.2.3: members are sorted by UTF-16 code units, so the emoji (a surrogate pair) precedes U+FB33', () => {
      const sample = JSON.parse(
        String.raw`{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }`,
      ) as Record<string, string>;
      const canonical = canonicalJson(sample);
      const order = [...canonical.matchAll(/":"([^"]+)"/g)].map((match) => match[1]);
      expect(order).toEqual([
        'Carriage Return',
        'One',
        'Control',
        'Latin Small Letter O With Diaeresis',
        'Euro Sign',
        'Emoji: Grinning Face',
        'Hebrew Letter Dalet With Dagesh',
      ]);
      expect(canonical).toBe(
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
      );
    });

    it.each([
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ])('Appendix B: the double %s is written %s', (bits, expected) => {
      expect(canonicalJson(fromBits(bits))).toBe(expected);
      expect(canonicalJson([fromBits(bits)])).toBe(`[${expected}]`);
    });

    it.each([
      ['7fffffffffffffff', 'NaN'],
      ['7ff0000000000000', 'Infinity'],
      ['fff0000000000000', '-Infinity'],
    ])('Appendix B: the double %s (%s) is refused', (bits) => {
      expect(() => canonicalJson({ n: fromBits(bits) })).toThrow(NotCanonicalJsonError);
    });
  });

  describe('strings', () => {
    it('escapes controls below U+0020 by name or as lower-case \\u00xx, and nothing else', () => {
      expect(canonicalJson('\u0000\u0008\u0009\u000a\u000b\u000c\u000d\u001f "\\/\u007f\u2028\u2029é')).toBe(
        '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f \\"\\\\/\u007f\u2028\u2029é"',
      );
    });

    it('keeps a surrogate pair as is and refuses a lone surrogate, in values and in member names alike', () => {
      expect(canonicalJson('\ud83d\ude00')).toBe('"😀"');
      for (const value of ['\ud83d', 'a\ude00b', '\ude00\ud83d', { ['\ud800']: 1 }, ['ok', '\udfff']]) {
        expect(() => canonicalJson(value)).toThrow(/lone surrogate/);
      }
    });
  });

  describe('structure', () => {
    it('sorts members at every depth and keeps array order', () => {
      expect(canonicalJson({ b: [{ z: 1, a: 2 }, 3], a: { d: true, c: null }, '10': 0, '9': 0, A: 0, '': 0 })).toBe(
        '{"":0,"10":0,"9":0,"A":0,"a":{"c":null,"d":true},"b":[{"a":2,"z":1},3]}',
      );
    });

    it('an object whose names look like integers is still sorted as strings', () => {
      expect(canonicalJson({ 2: 'b', 10: 'a', 1: 'c' })).toBe('{"1":"c","10":"a","2":"b"}');
    });

    it('empty containers and a top-level literal', () => {
      expect(canonicalJson({ a: [], b: {} })).toBe('{"a":[],"b":{}}');
      expect(canonicalJson(null)).toBe('null');
      expect(canonicalJson(-0)).toBe('0');
    });

    it.each<[string, unknown]>([
      ['undefined', { a: undefined }],
      ['a function', { a: () => 1 }],
      ['a bigint', { a: 1n }],
      ['a symbol', [Symbol('s')]],
      ['a Date', { at: new Date(0) }],
      ['a Map', new Map()],
      ['an array hole', Object.assign(new Array<number>(3), { 0: 1, 2: 3 })],
    ])('refuses %s instead of converting or dropping it', (_what, value) => {
      expect(() => canonicalJson(value)).toThrow(NotCanonicalJsonError);
    });

    it('names where the offending value is', () => {
      expect(() => canonicalJson({ data: { items: [1, { at: new Date(0) }] } })).toThrow('$["data"]["items"][1]["at"]: a Date is not JSON');
    });

    it('refuses a value that contains itself, but not one that repeats a shared value', () => {
      const shared = { x: 1 };
      expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      expect(() => canonicalJson(cyclic)).toThrow(/contains itself/);
    });

    it('accepts an object without a prototype, as JSON.parse never makes but a caller might', () => {
      const bare = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
      expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
    });
  });
});
