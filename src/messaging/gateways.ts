import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Gateway, GatewayOptions } from './gateway.js';
import { maskPhone } from './mask.js';
import { CHANNELS, type Channel } from './outbox.js';
import { smsHttpGateway } from './sms-http.js';
import { whatsappCloudGateway } from './whatsapp-cloud.js';

/**
 * The channels offered to citizens: the gateways MESSAGE_GATEWAY configures, or both when none is
 * (a local trial: the log "delivers" every message, see logGateway).
 */
export function availableChannels(config: Pick<Config, 'messageGateways'>): Channel[] {
  const configured = CHANNELS.filter((channel) => config.messageGateways[channel] !== undefined);
  return configured.length > 0 ? configured : [...CHANNELS];
}

/**
 * Without MESSAGE_GATEWAY (never in production, config.ts refuses it): the message is written to
 * the log, code included, with the number masked, so that a local trial can sign in by phone.
 */
function logGateway(channel: Channel, log: Logger): Gateway {
  return {
    channel,
    keepsCodes: true,
    async send(message) {
      log.info({ outboxId: message.id, to: maskPhone(message.to), channel, kind: message.kind, body: message.body }, 'phone message (no MESSAGE_GATEWAY: written to the log)');
      return undefined;
    },
  };
}

/** One gateway per channel of availableChannels: the configured ones, or the log's for both. */
export function createGateways(config: Pick<Config, 'messageGateways'>, log: Logger, options: GatewayOptions = {}): Gateway[] {
  const { whatsapp, sms } = config.messageGateways;
  if (!whatsapp && !sms) return CHANNELS.map((channel) => logGateway(channel, log));
  return [...(whatsapp ? [whatsappCloudGateway(whatsapp, options)] : []), ...(sms ? [smsHttpGateway(sms, options)] : [])];
}
