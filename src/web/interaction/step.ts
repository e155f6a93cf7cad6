import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Interaction, PromptName, ReadInteraction } from './context.js';

/**
 * One step of the sign-in at /interaction/:uid. A step may show the page of a provider prompt
 * (GET /interaction/:uid while the provider is at that prompt) and may add form actions
 * (POST /interaction/:uid/<action>). A new way to sign in is a new step: one file, and one line
 * in the list in routes.ts.
 */
export interface InteractionStep {
  page?: { prompt: PromptName; show(ctx: Context, interaction: Interaction): Promise<void> };
  actions?(router: Router, read: ReadInteraction): void;
  /** The other ways to sign in that the login page links to, when this interaction may use them. */
  alternatives?(interaction: Interaction): Promise<LoginAlternative[]>;
}

/** A link on the login page to another way of signing in. */
export interface LoginAlternative {
  href: string;
  /** The locale key of the link's text, and what it names. */
  label: string;
  labelArgs?: Record<string, string>;
  /** A button beside the password form (with this logo, when there is one), not a link under it. */
  button?: { logo?: string };
}
