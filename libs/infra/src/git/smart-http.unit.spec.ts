import { parseCgiHeaders, parseGitHttpRoute } from './smart-http';

const ORG = '0190f0c4-7e1a-7b3c-9d2e-4f5a6b7c8d9e';
const REPO = '0190f0c4-7e1a-7b3c-9d2e-000000000001';
const base = `/${ORG}/${REPO}.git`;

describe('parseGitHttpRoute', () => {
  it('recognises the four smart-HTTP requests and which of them are a push', () => {
    expect(parseGitHttpRoute('GET', `${base}/info/refs`, 'service=git-upload-pack')).toEqual({
      orgId: ORG,
      repoId: REPO,
      service: 'git-upload-pack',
      kind: 'advertisement',
      isPush: false,
    });
    expect(parseGitHttpRoute('GET', `${base}/info/refs`, 'service=git-receive-pack')).toMatchObject({ kind: 'advertisement', isPush: true });
    expect(parseGitHttpRoute('POST', `${base}/git-upload-pack`, '')).toMatchObject({ kind: 'rpc', isPush: false });
    expect(parseGitHttpRoute('POST', `${base}/git-receive-pack`, '')).toMatchObject({ kind: 'rpc', isPush: true });
  });

  it.each([
    ['dumb HTTP: HEAD', 'GET', `${base}/HEAD`, ''],
    ['dumb HTTP: info/refs without a service', 'GET', `${base}/info/refs`, ''],
    ['dumb HTTP: objects', 'GET', `${base}/objects/info/packs`, ''],
    ['the merge token file', 'GET', `${base}/bastion-merge-token`, ''],
    ['a hook', 'GET', `${base}/hooks/pre-receive`, ''],
    ['traversal', 'GET', `/${ORG}/../${REPO}.git/info/refs`, 'service=git-upload-pack'],
    ['an encoded traversal', 'GET', `/${ORG}/%2e%2e/${REPO}.git/info/refs`, 'service=git-upload-pack'],
    ['an uppercase id', 'GET', `/${ORG.toUpperCase()}/${REPO}.git/info/refs`, 'service=git-upload-pack'],
    ['a non-UUID id', 'GET', `/${'-'.repeat(36)}/${REPO}.git/info/refs`, 'service=git-upload-pack'],
    ['an unknown service', 'GET', `${base}/info/refs`, 'service=git-upload-archive'],
    ['extra query parameters', 'GET', `${base}/info/refs`, 'service=git-upload-pack&x=1'],
    ['a GET of an RPC', 'GET', `${base}/git-receive-pack`, ''],
    ['a POST of the advertisement', 'POST', `${base}/info/refs`, 'service=git-receive-pack'],
    ['a trailing slash', 'POST', `${base}/git-receive-pack/`, ''],
  ])('serves nothing else (%s)', (_case, method, path, query) => {
    expect(parseGitHttpRoute(method, path, query)).toBeNull();
  });
});

describe('parseCgiHeaders', () => {
  it('takes the status from Status: and passes only content and caching headers', () => {
    expect(
      parseCgiHeaders(
        'Status: 403 Forbidden\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\nSet-Cookie: a=b\r\nX-Other: 1',
      ),
    ).toEqual({ status: 403, headers: { 'content-type': 'text/plain', 'cache-control': 'no-cache' } });
    expect(parseCgiHeaders('Content-Type: application/x-git-upload-pack-advertisement')).toEqual({
      status: 200,
      headers: { 'content-type': 'application/x-git-upload-pack-advertisement' },
    });
    expect(parseCgiHeaders('Status: nonsense').status).toBe(200);
  });
});
