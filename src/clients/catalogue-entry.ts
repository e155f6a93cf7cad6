import { InputError } from '../errors.js';
import { ACR_VALUES } from '../identity/assurance.js';

export const CATALOGUE_KINDS = ['online', 'counter'] as const;
export type CatalogueKind = (typeof CATALOGUE_KINDS)[number];
export const NAME_MAX = 100;
export const DESCRIPTION_MAX = 200;

/** A catalogue entry as a form or a CSV line gives it: text, not yet checked. */
export interface RawEntry {
  unit: string;
  name: string;
  description_id: string;
  description_en: string;
  kind: string;
  client_id: string;
  acr: string;
}

/** A checked entry's fields (its unit and client are checked against the database by catalogue.ts). */
export interface EntryInput {
  unit: string;
  name: string;
  descriptionId: string;
  descriptionEn: string;
  kind: CatalogueKind;
  clientId: string | null;
  acr: string;
}

/** One line of text: trimmed, inner runs of white space (line breaks included) made one space. */
const tidy = (text: string) => text.trim().replace(/\s+/g, ' ');

/**
 * The checks that need no database: lengths, kind, acr, and a client named for an online entry
 * only. Every problem is returned (a form shows them all, an import reports them all).
 */
export function checkEntryFields(raw: RawEntry): { input?: EntryInput; problems: InputError[] } {
  const name = tidy(raw.name);
  const descriptionId = tidy(raw.description_id);
  const descriptionEn = tidy(raw.description_en);
  const kind = raw.kind.trim().toLowerCase();
  const clientId = raw.client_id.trim();
  const acr = raw.acr.trim();
  const problems: InputError[] = [];
  if (!raw.unit.trim()) problems.push(new InputError('catalogue_unit_unknown', 'unit'));
  if (!name) problems.push(new InputError('catalogue_name_missing', 'name'));
  else if (name.length < 2 || name.length > NAME_MAX) problems.push(new InputError('catalogue_name_invalid', 'name'));
  if (!descriptionId || descriptionId.length > DESCRIPTION_MAX) problems.push(new InputError('catalogue_description_invalid', 'description_id'));
  if (!descriptionEn || descriptionEn.length > DESCRIPTION_MAX) problems.push(new InputError('catalogue_description_invalid', 'description_en'));
  if (!(CATALOGUE_KINDS as readonly string[]).includes(kind)) problems.push(new InputError('catalogue_kind_invalid', 'kind'));
  else if (kind === 'online' && !clientId) problems.push(new InputError('catalogue_client_required', 'client_id'));
  else if (kind === 'counter' && clientId) problems.push(new InputError('catalogue_client_unexpected', 'client_id'));
  if (!ACR_VALUES.includes(acr)) problems.push(new InputError('catalogue_acr_invalid', 'acr'));
  if (problems.length > 0) return { problems };
  return {
    input: { unit: raw.unit.trim(), name, descriptionId, descriptionEn, kind: kind as CatalogueKind, clientId: kind === 'online' ? clientId : null, acr },
    problems,
  };
}
