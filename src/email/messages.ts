import type { Email } from './outbox.js';

/**
 * The emails Kediri ID sends: plain text, Bahasa Indonesia first and English second, with no
 * personal data beyond the name the message is addressed to.
 */
const SIGNATURE = '\n--\nKediri ID · Satu Akun Kota Kediri\nPemerintah Kota Kediri';

export function verificationEmail(to: string, name: string, link: string, code: string): Email {
  return {
    to,
    subject: 'Verifikasi email Kediri ID Anda / Verify your Kediri ID email',
    body: `Halo ${name},

Untuk menyelesaikan pendaftaran Kediri ID, buka tautan ini:
${link}

atau masukkan kode ini di halaman verifikasi: ${code}

Tautan dan kode berlaku 24 jam. Jika Anda tidak mendaftar, abaikan email ini.

---

Hello ${name},

To finish your Kediri ID registration, open this link:
${link}

or enter this code on the verification page: ${code}

The link and code are valid for 24 hours. If you did not register, ignore this email.
${SIGNATURE}`,
  };
}

export function passwordResetEmail(to: string, name: string, link: string): Email {
  return {
    to,
    subject: 'Atur ulang kata sandi Kediri ID / Reset your Kediri ID password',
    body: `Halo ${name},

Kami menerima permintaan untuk mengatur ulang kata sandi akun Kediri ID Anda. Buka tautan ini
dalam 30 menit untuk membuat kata sandi baru:
${link}

Jika Anda tidak memintanya, abaikan email ini: kata sandi Anda tidak berubah.

---

Hello ${name},

We received a request to reset the password of your Kediri ID account. Open this link within
30 minutes to choose a new password:
${link}

If you did not ask for this, ignore this email: your password has not changed.
${SIGNATURE}`,
  };
}

export function passwordChangedEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Kata sandi Kediri ID Anda telah diubah / Your Kediri ID password was changed',
    body: `Halo ${name},

Kata sandi akun Kediri ID Anda baru saja diubah, dan semua sesi masuk Anda telah diakhiri.
Jika bukan Anda yang mengubahnya, segera atur ulang kata sandi lewat "Lupa kata sandi?" atau
datang ke loket Mal Pelayanan Publik dengan KTP-el Anda.

---

Hello ${name},

The password of your Kediri ID account was just changed, and all your sessions were ended.
If this was not you, reset your password now with "Forgot password?" or visit the Mal
Pelayanan Publik counter with your KTP-el.
${SIGNATURE}`,
  };
}

export function registrationAttemptEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Percobaan pendaftaran dengan data Anda / A registration attempt with your details',
    body: `Halo ${name},

Seseorang mencoba mendaftar Kediri ID dengan NIK atau email akun Anda. Akun Anda tidak berubah.
Jika itu Anda, masuk dengan akun yang sudah ada, atau gunakan "Lupa kata sandi?".

---

Hello ${name},

Someone tried to register for Kediri ID with the NIK or email of your account. Your account has
not changed. If it was you, sign in with your existing account, or use "Forgot password?".
${SIGNATURE}`,
  };
}

export function accountLockedEmail(to: string, name: string, minutes: number): Email {
  return {
    to,
    subject: 'Akun Kediri ID Anda dikunci sementara / Your Kediri ID account is temporarily locked',
    body: `Halo ${name},

Ada terlalu banyak percobaan masuk yang gagal ke akun Kediri ID Anda, sehingga akun dikunci selama
${minutes} menit. Jika itu bukan Anda, seseorang mungkin mencoba menebak kata sandi Anda: setelah
kunci berakhir, ganti kata sandi lewat "Lupa kata sandi?".

---

Hello ${name},

There were too many failed sign-in attempts on your Kediri ID account, so it is locked for
${minutes} minutes. If this was not you, someone may be guessing your password: when the lock ends,
change your password with "Forgot password?".
${SIGNATURE}`,
  };
}

export function recoveryCodeUsedEmail(to: string, name: string, left: number): Email {
  return {
    to,
    subject: 'Kode pemulihan Kediri ID dipakai / A Kediri ID recovery code was used',
    body: `Halo ${name},

Satu kode pemulihan baru saja dipakai untuk masuk ke akun Kediri ID Anda. Sisa kode: ${left}.
Jika bukan Anda, segera atur ulang kata sandi lewat "Lupa kata sandi?" atau datang ke loket MPP.

---

Hello ${name},

A recovery code was just used to sign in to your Kediri ID account. Codes left: ${left}.
If this was not you, reset your password now with "Forgot password?" or visit the MPP counter.
${SIGNATURE}`,
  };
}


/** A change to the account's second factors, in the words the email uses for it. */
export type FactorChange = 'totp_added' | 'totp_removed' | 'passkey_added' | 'passkey_removed' | 'recovery_codes_renewed';

const FACTOR_CHANGES: Record<FactorChange, { id: string; en: string }> = {
  totp_added: { id: 'Aplikasi autentikator ditambahkan', en: 'An authenticator app was added' },
  totp_removed: { id: 'Aplikasi autentikator dihapus', en: 'The authenticator app was removed' },
  passkey_added: { id: 'Kunci sandi (passkey) ditambahkan', en: 'A passkey was added' },
  passkey_removed: { id: 'Kunci sandi (passkey) dihapus', en: 'A passkey was removed' },
  recovery_codes_renewed: { id: 'Kode pemulihan baru dibuat', en: 'New recovery codes were made' },
};

export function factorChangedEmail(to: string, name: string, change: FactorChange): Email {
  const what = FACTOR_CHANGES[change];
  return {
    to,
    subject: 'Verifikasi dua langkah Kediri ID berubah / Two-step verification changed',
    body: `Halo ${name},

${what.id} pada verifikasi dua langkah akun Kediri ID Anda.
Jika bukan Anda, segera atur ulang kata sandi lewat "Lupa kata sandi?" atau datang ke loket MPP.

---

Hello ${name},

${what.en} in the two-step verification of your Kediri ID account.
If this was not you, reset your password now with "Forgot password?" or visit the MPP counter.
${SIGNATURE}`,
  };
}

export function emailChangeCodeEmail(to: string, name: string, link: string, code: string): Email {
  return {
    to,
    subject: 'Konfirmasi email baru Kediri ID / Confirm your new Kediri ID email',
    body: `Halo ${name},

Anda meminta agar alamat ini menjadi email akun Kediri ID Anda. Untuk mengonfirmasi, buka tautan ini:
${link}

atau masukkan kode ini di halaman akun Anda: ${code}

Tautan dan kode berlaku 30 menit dan hanya bisa dipakai sekali. Jika Anda tidak memintanya,
abaikan email ini: tidak ada yang berubah.

---

Hello ${name},

You asked for this address to become the email of your Kediri ID account. To confirm, open this link:
${link}

or enter this code on your account page: ${code}

The link and code are valid for 30 minutes and work once. If you did not ask for this, ignore
this email: nothing has changed.
${SIGNATURE}`,
  };
}

export function emailChangedEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Email akun Kediri ID Anda telah diubah / Your Kediri ID email was changed',
    body: `Halo ${name},

Email akun Kediri ID Anda baru saja diganti dengan alamat lain; email ini tidak lagi dipakai untuk
masuk atau memulihkan akun. Jika bukan Anda yang mengubahnya, segera datang ke loket Mal
Pelayanan Publik dengan KTP-el Anda.

---

Hello ${name},

The email of your Kediri ID account was just changed to another address; this one no longer
signs in to or recovers the account. If this was not you, visit the Mal Pelayanan Publik counter
with your KTP-el as soon as possible.
${SIGNATURE}`,
  };
}

export function emailChangeAttemptEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Percobaan memakai email Anda / An attempt to use your email',
    body: `Halo ${name},

Seseorang mencoba menjadikan alamat email ini sebagai email akun Kediri ID yang lain. Alamat ini
tetap milik akun Anda, dan akun Anda tidak berubah. Anda tidak perlu melakukan apa pun.

---

Hello ${name},

Someone tried to make this email address the email of another Kediri ID account. The address
stays with your account, and your account has not changed. You do not need to do anything.
${SIGNATURE}`,
  };
}

/** A unit developer's registration request was decided (or the client's status changed). */
export type RequestDecision = 'approved' | 'rejected' | 'suspended' | 'reactivated';

const DECISIONS: Record<RequestDecision, { id: string; en: string }> = {
  approved: { id: 'disetujui', en: 'approved' },
  rejected: { id: 'ditolak', en: 'rejected' },
  suspended: { id: 'dihentikan sementara', en: 'suspended' },
  reactivated: { id: 'diaktifkan kembali', en: 'reactivated' },
};

export function requestDecisionEmail(to: string, name: string, clientName: string, decision: RequestDecision, reason: string | undefined, portalLink: string): Email {
  const what = DECISIONS[decision];
  return {
    to,
    subject: `Layanan "${clientName}" ${what.id} / Service "${clientName}" ${what.en}`,
    body: `Halo ${name},

Permintaan atau status layanan "${clientName}" di Kediri ID: ${what.id}.${reason ? `\nAlasan: ${reason}` : ''}
Lihat rinciannya di portal pengembang: ${portalLink}

---

Hello ${name},

The request or status of the service "${clientName}" at Kediri ID: ${what.en}.${reason ? `\nReason: ${reason}` : ''}
See the details in the developer portal: ${portalLink}
${SIGNATURE}`,
  };
}

export function staffInvitationEmail(to: string, role: string, unitName: string | undefined, link: string): Email {
  const where = unitName ? ` (${unitName})` : '';
  return {
    to,
    subject: 'Undangan peran di Kediri ID / An invitation to a role at Kediri ID',
    body: `Halo,

Anda diundang sebagai ${role}${where} di Kediri ID. Buka tautan ini dalam 7 hari, lalu masuk dengan
akun Kediri ID yang memakai alamat email ini (daftar dahulu jika belum punya):
${link}

---

Hello,

You are invited as ${role}${where} at Kediri ID. Open this link within 7 days, then sign in with the
Kediri ID account that uses this email address (register first if you have none):
${link}
${SIGNATURE}`,
  };
}

export function citizenLockedEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Akun Kediri ID Anda dikunci / Your Kediri ID account is locked',
    body: `Halo ${name},

Administrator Kediri ID mengunci akun Anda: Anda tidak dapat masuk ke layanan Kota Kediri, dan semua
sesi masuk Anda telah diakhiri. Untuk menanyakan alasannya atau membuka kembali akun, datang ke
loket Mal Pelayanan Publik dengan KTP-el Anda.

---

Hello ${name},

A Kediri ID administrator locked your account: you cannot sign in to Kota Kediri's services, and all
your sessions were ended. To ask why or to have the account unlocked, visit the Mal Pelayanan
Publik counter with your KTP-el.
${SIGNATURE}`,
  };
}

export function citizenUnlockedEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Akun Kediri ID Anda dibuka kembali / Your Kediri ID account is unlocked',
    body: `Halo ${name},

Administrator Kediri ID membuka kembali akun Anda: Anda dapat masuk lagi ke layanan Kota Kediri.
Jika Anda tidak memintanya, datang ke loket Mal Pelayanan Publik dengan KTP-el Anda.

---

Hello ${name},

A Kediri ID administrator unlocked your account: you can sign in to Kota Kediri's services again.
If you did not ask for this, visit the Mal Pelayanan Publik counter with your KTP-el.
${SIGNATURE}`,
  };
}
