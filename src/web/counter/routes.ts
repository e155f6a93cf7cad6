import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { compactNik, parseNik } from '../../identity/nik.js';
import { normalizePhone } from '../../identity/phone.js';
import { checkNameCorrection, type Staff } from '../../identity/staff.js';
import { field, fieldErrors, message, parseForm, typed } from '../forms.js';
import { render } from '../render.js';

const searchForm = z.object({ nik: typed });
const verifyForm = z.object({ nik: field(64), name: field(400), ktp_checked: field(8) });
const phoneForm = z.object({ nik: field(64), phone: typed, phone_checked: field(8) });
const nameForm = z.object({ nik: field(64), name: typed, reason: typed });

/**
 * Field errors as the officer reads them, about the citizen in front of them ("the citizen's
 * NIK"): the counter's own wording (counter.error) where it has one, else the general message.
 */
function officerErrors(ctx: Context, problems: InputError[]): Array<{ field: string; message: string }> {
  return problems.map((problem) => {
    const key = `counter.error.${problem.code}`;
    const text = message(ctx, key);
    return text === key ? fieldErrors(ctx, [problem])[0]! : { field: problem.field ?? 'form', message: text };
  });
}

/**
 * The MPP counter (/loket): an officer finds a citizen by NIK (sent in a POST body, never in the
 * URL) and, after checking the KTP-el in person, marks the identity verified; and records the
 * phone number of the citizen in front of them as verified (`foreignPrefixes`: the calling codes
 * of other countries accepted besides Indonesia's); and corrects a verified name from the KTP-el.
 * Its messages speak to the officer (officerErrors).
 */
export function counterRoutes(staff: Staff, officerOnly: Middleware, foreignPrefixes: readonly string[] = []): Router {
  const router = new Router({ prefix: '/loket' });
  router.use(officerOnly);

  router.get('/', (ctx) => render(ctx, 'counter/search', { nik: '', errors: [] }));

  async function showCitizen(ctx: Parameters<Middleware>[0], nik: string, extra: object = {}, status = 200) {
    const parsed = parseNik(compactNik(nik));
    if (!parsed.ok) return render(ctx, 'counter/search', { nik, errors: officerErrors(ctx, [new InputError(parsed.code, 'nik')]) }, 400);
    const citizen = await staff.findByNik(nik);
    if (!citizen) return render(ctx, 'counter/search', { nik, notFound: true, errors: [] }, 404);
    render(ctx, 'counter/citizen', { nik: nik.trim(), citizen, errors: [], ...extra }, status);
  }

  router.post('/cari', async (ctx) => {
    await showCitizen(ctx, parseForm(ctx, searchForm).nik);
  });

  router.post('/verifikasi', async (ctx) => {
    const form = parseForm(ctx, verifyForm);
    if (form.ktp_checked !== 'ya') {
      return showCitizen(ctx, form.nik, { errors: officerErrors(ctx, [new InputError('ktp_check_required', 'ktp_checked')]) }, 400);
    }
    const citizen = await staff.findByNik(form.nik);
    if (!citizen) return showCitizen(ctx, form.nik);
    try {
      await staff.verifyAtCounter(ctx.state.accountId, citizen.id, form.name, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      // The citizen changed their name since the page was shown: the officer checks again.
      if (error.code === 'citizen_changed' || error.code === 'counter_own_account') return showCitizen(ctx, form.nik, { errors: officerErrors(ctx, [error]) }, 409);
      if (error.code !== 'already_verified') throw error;
    }
    await showCitizen(ctx, form.nik, { done: true });
  });

  router.post('/telepon', async (ctx) => {
    const form = parseForm(ctx, phoneForm);
    const phone = normalizePhone(form.phone.trim(), foreignPrefixes);
    const problems = [
      ...(phone ? [] : [new InputError('phone_invalid', 'phone')]),
      ...(form.phone_checked === 'ya' ? [] : [new InputError('phone_check_required', 'phone_checked')]),
    ];
    if (problems.length > 0) return showCitizen(ctx, form.nik, { phoneValue: form.phone, errors: officerErrors(ctx, problems) }, 400);
    const citizen = await staff.findByNik(form.nik);
    if (!citizen) return showCitizen(ctx, form.nik);
    try {
      await staff.recordPhoneAtCounter(ctx.state.accountId, citizen.id, phone!, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || !['counter_phone_taken', 'phone_unchanged', 'counter_own_account'].includes(error.code)) throw error;
      return showCitizen(ctx, form.nik, { phoneValue: form.phone, errors: officerErrors(ctx, [error]) }, 409);
    }
    await showCitizen(ctx, form.nik, { phoneDone: true });
  });

  router.post('/nama', async (ctx) => {
    const form = parseForm(ctx, nameForm);
    const kept = { nameValue: form.name, reasonValue: form.reason };
    const checked = checkNameCorrection(form);
    if (!checked.ok) return showCitizen(ctx, form.nik, { ...kept, errors: officerErrors(ctx, checked.problems) }, 400);
    const citizen = await staff.findByNik(form.nik);
    if (!citizen) return showCitizen(ctx, form.nik);
    try {
      await staff.correctNameAtCounter(ctx.state.accountId, citizen.id, checked.correction, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || !['name_unchanged', 'name_not_verified', 'counter_own_account'].includes(error.code)) throw error;
      return showCitizen(ctx, form.nik, { ...kept, errors: officerErrors(ctx, [error]) }, 409);
    }
    await showCitizen(ctx, form.nik, { nameDone: true });
  });

  return router;
}
