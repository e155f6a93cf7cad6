import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for a message gateway on 127.0.0.1: the WhatsApp Business Cloud API or the generic
 * SMS gateway, answering as src/messaging/whatsapp-cloud.ts and src/messaging/sms-http.ts document.
 * It records every request, and answers as its mode says:
 * - 'accept': WhatsApp 200 with a message id, SMS 202;
 * - 'error': 503;
 * - 'throttle': 429 with Retry-After (retryAfter, seconds);
 * - 'hang': never answers (close() ends the connection);
 * - 'refuse': 400 (for WhatsApp with Meta's error body, which quotes the number, as Meta's may).
 * A request without the expected bearer token gets 401.
 */
export type GatewayMode = 'accept' | 'error' | 'throttle' | 'hang' | 'refuse';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

export interface MessageGatewayStub {
  /** The base URL: for WhatsApp, WHATSAPP_API_URL is `${url}/v21.0`; for SMS, SMS_GATEWAY_URL is `${url}/sms`. */
  url: string;
  mode: GatewayMode;
  retryAfter: number;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startMessageGateway(kind: 'whatsapp' | 'sms', token: string): Promise<MessageGatewayStub> {
  const requests: ReceivedRequest[] = [];
  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // Recorded as it came; the test looks at body.
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json });
      if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'unauthorized' });
      switch (stub.mode) {
        case 'hang':
          return;
        case 'error':
          return send(res, 503, { error: 'temporarily unavailable' });
        case 'throttle':
          return send(res, 429, { error: 'too many requests' }, { 'retry-after': String(stub.retryAfter) });
        case 'refuse':
          return kind === 'whatsapp'
            ? send(res, 400, { error: { message: `(#131026) Message undeliverable to ${String(json.to)}`, type: 'OAuthException', code: 131026 } })
            : send(res, 400, { error: `cannot deliver to ${String(json.to)}` });
        case 'accept':
          return kind === 'whatsapp'
            ? send(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: json.to, wa_id: json.to }], messages: [{ id: `wamid.${requests.length}` }] })
            : send(res, 202, { accepted: true });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const stub: MessageGatewayStub = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mode: 'accept',
    retryAfter: 30,
    requests,
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
  return stub;
}
