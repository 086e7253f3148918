import { compactVerify, jwtVerify } from 'jose';
import { SIGNING_ALGORITHM } from './token-policy';

/**
 * RFC 7515 Appendix A.2: the RS256 example JWS and the RSA public key it verifies with (A.2.1 `n`, `e`), byte for
 * byte. The vector has no `typ` and no `kid`, so it cannot pass the access-token verifier; it runs through the
 * layer the verifier stands on: jose's JWS signature check with the algorithm pinned to RS256 and the key given
 * as a public JWK marked `alg: RS256`, exactly as our key resolver hands keys to jose.
 */
const RFC7515_A2_KEY = Object.freeze({
  kty: 'RSA',
  n:
    'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ',
  e: 'AQAB',
  alg: 'RS256',
  use: 'sig',
});

const RFC7515_A2_JWS =
  'eyJhbGciOiJSUzI1NiJ9' +
  '.' +
  'eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ' +
  '.' +
  'cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw';

/** The A.1/A.2 payload, CRLFs and spaces included. */
const RFC7515_PAYLOAD = '{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}';

describe('RFC 7515 Appendix A.2 (RS256)', () => {
  it('our RS256 signature check accepts the RFC example JWS with the RFC key', async () => {
    const { protectedHeader, payload } = await compactVerify(RFC7515_A2_JWS, () => RFC7515_A2_KEY, { algorithms: [SIGNING_ALGORITHM] });
    expect(protectedHeader).toEqual({ alg: 'RS256' });
    expect(new TextDecoder().decode(payload)).toBe(RFC7515_PAYLOAD);
  });

  it('jwtVerify, which the access-token verifier calls, accepts it too at an instant before its exp', async () => {
    const { payload } = await jwtVerify(RFC7515_A2_JWS, () => RFC7515_A2_KEY, {
      algorithms: [SIGNING_ALGORITHM],
      currentDate: new Date(1_300_819_000 * 1000),
    });
    expect(payload).toEqual({ iss: 'joe', exp: 1_300_819_380, 'http://example.com/is_root': true });
  });

  it('refuses the RFC example with one bit of its signature flipped', async () => {
    const [header, payload, signature] = RFC7515_A2_JWS.split('.');
    const bytes = Buffer.from(signature!, 'base64url');
    bytes[0] = bytes[0]! ^ 0x80;
    const tampered = `${header}.${payload}.${bytes.toString('base64url')}`;
    await expect(compactVerify(tampered, () => RFC7515_A2_KEY, { algorithms: [SIGNING_ALGORITHM] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });
});
