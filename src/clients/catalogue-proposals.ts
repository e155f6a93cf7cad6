import { randomUUID } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import { InputError } from '../errors.js';
import { isUuid } from '../ids.js';
import { clientStates } from './clients.js';
import { checkEntryFields } from './catalogue-entry.js';
import type { Catalogue, CatalogueEntry } from './catalogue.js';
import { REJECTION_REASON_MIN } from './requests.js';

export type ProposalStatus = 'pending' | 'approved' | 'rejected';

export interface CatalogueProposal {
  id: string;
  clientId: string;
  entryId: string | null;
  name: string;
  descriptionId: string;
  descriptionEn: string;
  acr: string;
  status: ProposalStatus;
  reason: string | null;
  submittedAt: Date;
}

/** A proposal with the entry it would change (none for a new one), for the reviewer. */
export interface ReviewedProposal extends CatalogueProposal {
  clientName: string;
  current: CatalogueEntry | undefined;
}

/** What a developer proposes: the text of an entry of one of their clients (a new one without entryId). */
export interface ProposalInput {
  clientId: string;
  entryId: string;
  name: string;
  description_id: string;
  description_en: string;
  acr: string;
}

const COLUMNS = `id, client_id as "clientId", entry_id as "entryId", name, description_id as "descriptionId",
  description_en as "descriptionEn", acr, status, reason, submitted_at as "submittedAt"`;

/**
 * Unit developers' proposed text for the catalogue entries of their clients (catalogue_proposals):
 * shown on /layanan only once an administrator approved it, as a client change request is.
 */
export function createCatalogueProposals(db: Db, audit: Audit, catalogue: Catalogue) {
  const list = async (where: string, params: unknown[]) =>
    (await db.query<CatalogueProposal>(`select ${COLUMNS} from catalogue_proposals ${where} order by submitted_at desc`, params)).rows;

  return {
    /** Checks and stores a proposal; the problems of its fields, if any. The caller checked the client is the developer's. */
    async submit(input: ProposalInput, submittedBy: string, ip?: string): Promise<{ id: string } | { problems: InputError[] }> {
      const client = (await clientStates(db, [input.clientId])).get(input.clientId);
      if (!client || client.status !== 'active') throw new InputError('catalogue_client_invalid', 'client_id');
      const entryId = input.entryId || null;
      if (entryId && (await catalogue.get(entryId))?.clientId !== input.clientId) throw new InputError('catalogue_entry_unknown');
      const { input: checked, problems } = checkEntryFields({ ...input, unit: client.unit, kind: 'online', client_id: input.clientId });
      if (!checked) return { problems };
      return db.transaction(async (tx) => {
        const open = await tx.query("select 1 from catalogue_proposals where client_id = $1 and status = 'pending' for update", [input.clientId]);
        if (open.rowCount > 0) return { problems: [new InputError('catalogue_proposal_pending', 'name')] };
        const id = randomUUID();
        await tx.query(
          `insert into catalogue_proposals (id, client_id, entry_id, name, description_id, description_en, acr, submitted_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [id, input.clientId, entryId, checked.name, checked.descriptionId, checked.descriptionEn, checked.acr, submittedBy],
        );
        await audit({ type: 'catalogue.proposal_submitted', actor: submittedBy, ip, clientId: input.clientId, details: { proposal: id, entry: entryId } }, tx);
        return { id };
      });
    },

    /** The proposals of these clients, newest first (the developer portal). */
    forClients: (clientIds: string[]) => list('where client_id = any($1)', [clientIds]),

    /** The proposals waiting for review, each with its client's name and the entry it would change. */
    async pending(): Promise<ReviewedProposal[]> {
      const proposals = await list("where status = 'pending'", []);
      const names = await clientStates(db, proposals.map((p) => p.clientId));
      return Promise.all(proposals.map(async (p) => ({
        ...p,
        clientName: names.get(p.clientId)?.name ?? p.clientId,
        current: p.entryId ? await catalogue.get(p.entryId) : undefined,
      })));
    },

    /** Approves a pending proposal: its text is written to the catalogue in the same transaction. */
    async approve(id: string, actor: string, ip?: string): Promise<void> {
      if (!isUuid(id)) throw new InputError('catalogue_proposal_unknown');
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<CatalogueProposal & { submittedBy: string | null }>(
          `select ${COLUMNS}, submitted_by as "submittedBy" from catalogue_proposals where id = $1 and status = 'pending' for update`, [id]);
        const proposal = rows[0];
        if (!proposal) throw new InputError('catalogue_proposal_unknown');
        // A second person reviews, as for a client's change: a developer who is also an administrator does not approve their own text.
        if (proposal.submittedBy === actor) throw new InputError('own_request');
        const entry = await catalogue.applyText(tx, proposal, proposal);
        await tx.query("update catalogue_proposals set status = 'approved', entry_id = $2, reviewed_by = $3, reviewed_at = now() where id = $1", [id, entry, actor]);
        await audit({ type: 'catalogue.proposal_approved', actor, ip, clientId: proposal.clientId, details: { proposal: id, entry } }, tx);
      });
    },

    async reject(id: string, reason: string, actor: string, ip?: string): Promise<void> {
      if (reason.trim().length < REJECTION_REASON_MIN) throw new InputError('rejection_reason_required', 'reason');
      if (!isUuid(id)) throw new InputError('catalogue_proposal_unknown');
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ client_id: string }>(
          "update catalogue_proposals set status = 'rejected', reason = $2, reviewed_by = $3, reviewed_at = now() where id = $1 and status = 'pending' returning client_id",
          [id, reason.trim(), actor],
        );
        if (!rows[0]) throw new InputError('catalogue_proposal_unknown');
        await audit({ type: 'catalogue.proposal_rejected', actor, ip, clientId: rows[0].client_id, details: { proposal: id } }, tx);
      });
    },
  };
}

export type CatalogueProposals = ReturnType<typeof createCatalogueProposals>;
