import busboy from 'busboy';
import type { Context, Middleware } from 'koa';
import { InputError } from '../errors.js';

/**
 * A route middleware for a multipart/form-data post with one file: its text fields become
 * ctx.request.body (so that the form check reads the form's token as for any form) and the file,
 * at most `maxBytes` (more is bad input), ctx.state.upload (undefined when none or empty).
 */
export function acceptUpload(fileField: string, maxBytes: number): Middleware {
  return async (ctx, next) => {
    ctx.state.upload = await readUpload(ctx, fileField, maxBytes);
    await next();
  };
}

/** A malformed, cut-off or abandoned body is bad input, never an unhandled stream error. */
async function readUpload(ctx: Context, fileField: string, maxBytes: number): Promise<Buffer | undefined> {
  if (!ctx.is('multipart/form-data')) throw new InputError('form_invalid');
  const fields: Record<string, string> = {};
  let file: Buffer | undefined;
  let tooLarge = false;
  await new Promise<void>((resolve, reject) => {
    const fail = () => reject(new InputError('form_invalid'));
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: ctx.req.headers, limits: { files: 1, fields: 10, fieldSize: 1000, fileSize: maxBytes } });
    } catch {
      return fail(); // no boundary, or another header busboy cannot read
    }
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        tooLarge = true;
      });
      stream.on('error', fail);
      stream.on('end', () => {
        if (name === fileField) file = Buffer.concat(chunks);
      });
    });
    parser.on('close', resolve);
    parser.on('error', fail);
    ctx.req.on('aborted', fail);
    ctx.req.pipe(parser);
  });
  ctx.request.body = fields;
  if (tooLarge) throw new InputError('upload_too_large', fileField);
  return file && file.length > 0 ? file : undefined;
}
