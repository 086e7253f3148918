import express from 'express';
import request from 'supertest';
import { trustProxySetting } from '../create-api';

function appWith(trustProxy: string) {
  const app = express();
  app.set('trust proxy', trustProxySetting(trustProxy));
  app.get('/ip', (req, res) => {
    res.json({ ip: req.ip });
  });
  return app;
}

describe('client IP', () => {
  it('a forged X-Forwarded-For changes nothing unless a trusted proxy is configured', async () => {
    const response = await request(appWith('')).get('/ip').set('X-Forwarded-For', '203.0.113.9');
    expect(response.body.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });

  it('behind a configured proxy, the address it reports is used', async () => {
    const response = await request(appWith('127.0.0.1, ::1, ::ffff:127.0.0.1')).get('/ip').set('X-Forwarded-For', '203.0.113.9');
    expect(response.body.ip).toBe('203.0.113.9');
  });

  it('only the configured proxies are believed: a chain through an unknown hop stops there', async () => {
    const response = await request(appWith('127.0.0.1, ::1, ::ffff:127.0.0.1'))
      .get('/ip')
      .set('X-Forwarded-For', '198.51.100.7, 203.0.113.9');
    expect(response.body.ip).toBe('203.0.113.9');
  });
});
