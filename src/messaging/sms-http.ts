/**
 * SMS through a generic HTTP gateway: the city's SMS provider, or an adapter in front of it that
 * speaks this format.
 *
 * WIRE FORMAT
 *
 * Request: POST {SMS_GATEWAY_URL}
 *   Authorization: Bearer {SMS_GATEWAY_TOKEN}
 *   Content-Type: application/json
 *   { "to": "+6281234567890",            E.164
 *     "text": "Kediri ID: 123456 adalah kode untuk masuk. ...",   at most 160 GSM-7 characters
 *     "reference": "42" }                 the message's id in Kediri ID's outbox, for support
 *
 * Answer: any 2xx means accepted (the body is not read). 429 (Retry-After honoured when given),
 * 5xx, a timeout (5 s) or a network error: tried again. Another 4xx: this channel is not tried
 * again for the message.
 */
import type { MessageGateways } from '../config.js';
import { postJson, type Gateway, type GatewayOptions } from './gateway.js';

export type SmsSettings = NonNullable<MessageGateways['sms']>;

export function smsHttpGateway(settings: SmsSettings, options: GatewayOptions = {}): Gateway {
  return {
    channel: 'sms',
    keepsCodes: false,
    async send(message) {
      await postJson(settings.url, settings.token, { to: message.to, text: message.body, reference: String(message.id) }, options);
      return undefined;
    },
  };
}
