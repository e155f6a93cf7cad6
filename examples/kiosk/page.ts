import QRCode from 'qrcode';

/** What the kiosk shows while it waits: from the device authorization response (RFC 8628 §3.2). */
export interface KioskScreen {
  /** The kiosk's own name, as its unit calls it. */
  title: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  /** Seconds the code stays good. */
  expires_in: number;
}

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The kiosk's waiting screen: a QR code of verification_uri_complete (rendered here, as SVG, so
 * no image service learns the code), the user code large, and where to type it by hand. Bahasa
 * Indonesia first; the screen reloads every few seconds (`refreshSeconds`) to show the outcome.
 */
export async function kioskScreen(screen: KioskScreen, refreshSeconds = 5): Promise<string> {
  const qr = await QRCode.toString(screen.verification_uri_complete, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  const minutes = Math.round(screen.expires_in / 60);
  return `<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${refreshSeconds}">
<title>${escape(screen.title)}: masuk dengan Kediri ID</title>
<style>body{font-family:sans-serif;text-align:center;margin:2rem}.qr{width:20rem;max-width:80vw;margin:auto}.code{font-size:3rem;letter-spacing:.3rem;font-family:monospace}</style>
</head>
<body>
<main>
<h1>${escape(screen.title)}</h1>
<p>Pindai kode QR dengan ponsel Anda untuk masuk dengan Kediri ID.</p>
<div class="qr" role="img" aria-label="Kode QR untuk masuk">${qr}</div>
<p>Atau buka <strong>${escape(screen.verification_uri)}</strong> dan masukkan kode:</p>
<p class="code" id="user-code">${escape(screen.user_code)}</p>
<p lang="en">Scan the QR code with your phone to sign in with Kediri ID, or open the address above and enter the code.</p>
<p>Kode berlaku ${minutes} menit.</p>
</main>
</body>
</html>`;
}
