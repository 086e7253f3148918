// Proves the Jest setup loads ESM-only dependencies (jose 6 today; openid-client and oidc-provider later).
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';

it('jose 6 (ESM-only) runs under Jest through @swc/jest', async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
  expect((await jwtVerify(token, publicKey)).protectedHeader.alg).toBe('RS256');
});
