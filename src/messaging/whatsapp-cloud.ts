/**
 * WhatsApp through the WhatsApp Business Cloud API (Meta's Graph API). Business-initiated messages
 * must use approved message templates; Kediri ID uses two, made in the WhatsApp Manager:
 * - WHATSAPP_CODE_TEMPLATE (default "kediri_id_kode"): an authentication template (category
 *   AUTHENTICATION) with a copy-code button, in Indonesian ("id");
 * - WHATSAPP_NOTICE_TEMPLATE (default "kediri_id_pemberitahuan"): a utility template whose body
 *   is one parameter, {{1}}, the notice's whole text (the citizen's language).
 *
 * WIRE FORMAT
 *
 * Request: POST {WHATSAPP_API_URL, default https://graph.facebook.com/v21.0}/{WHATSAPP_PHONE_NUMBER_ID}/messages
 *   Authorization: Bearer {WHATSAPP_ACCESS_TOKEN}
 *   Content-Type: application/json
 * A code:
 *   { "messaging_product": "whatsapp", "to": "6281234567890",       E.164 without the "+"
 *     "type": "template",
 *     "template": { "name": "kediri_id_kode", "language": { "code": "id" },
 *       "components": [
 *         { "type": "body", "parameters": [ { "type": "text", "text": "123456" } ] },
 *         { "type": "button", "sub_type": "url", "index": "0",
 *           "parameters": [ { "type": "text", "text": "123456" } ] } ] } }
 * A notice:
 *   { "messaging_product": "whatsapp", "to": "6281234567890", "type": "template",
 *     "template": { "name": "kediri_id_pemberitahuan", "language": { "code": "id" },
 *       "components": [ { "type": "body", "parameters": [ { "type": "text", "text": "Kediri ID: ..." } ] } ] } }
 *
 * Answer: 200 with { "messaging_product": "whatsapp", "contacts": [...], "messages": [ { "id": "wamid...." } ] }
 * means accepted. 429 (throttled; Retry-After honoured when given), 5xx, a timeout (5 s) or a
 * network error: tried again. Another 4xx (a number not on WhatsApp, a template not approved, a
 * token refused): this channel is not tried again for the message. Meta's error body
 * { "error": { "code": 131026, ... } } gives its code to the log (never its message, which may
 * quote the number).
 */
import type { MessageGateways } from '../config.js';
import { DeliveryFailure, postJson, type Gateway, type GatewayOptions, type OutgoingMessage } from './gateway.js';

export type WhatsAppSettings = NonNullable<MessageGateways['whatsapp']>;

const text = (value: string) => ({ type: 'text', text: value });

function template(settings: WhatsAppSettings, message: OutgoingMessage) {
  if (message.kind === 'notice') {
    return { name: settings.noticeTemplate, language: { code: 'id' }, components: [{ type: 'body', parameters: [text(message.body)] }] };
  }
  if (!message.code) throw new DeliveryFailure('a code message without its code', true);
  return {
    name: settings.codeTemplate,
    language: { code: 'id' },
    components: [
      { type: 'body', parameters: [text(message.code)] },
      { type: 'button', sub_type: 'url', index: '0', parameters: [text(message.code)] },
    ],
  };
}

/** "(error 131026)" from Meta's error body: the number only. */
function metaErrorCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'number' ? `(error ${code})` : undefined;
}

export function whatsappCloudGateway(settings: WhatsAppSettings, options: GatewayOptions = {}): Gateway {
  const url = `${settings.apiUrl}/${encodeURIComponent(settings.phoneNumberId)}/messages`;
  return {
    channel: 'whatsapp',
    keepsCodes: false,
    async send(message) {
      const payload = { messaging_product: 'whatsapp', to: message.to.replace(/^\+/, ''), type: 'template', template: template(settings, message) };
      const answer = await postJson(url, settings.accessToken, payload, { ...options, detail: metaErrorCode });
      const id = (answer as { messages?: Array<{ id?: unknown }> } | undefined)?.messages?.[0]?.id;
      if (typeof id !== 'string') throw new DeliveryFailure('HTTP 200 without a message id');
      return id;
    },
  };
}
