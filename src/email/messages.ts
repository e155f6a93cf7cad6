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


export function factorAddedEmail(to: string, name: string): Email {
  return {
    to,
    subject: 'Verifikasi dua langkah Kediri ID diaktifkan / Two-step verification turned on',
    body: `Halo ${name},

Verifikasi dua langkah (aplikasi autentikator) baru saja diaktifkan untuk akun Kediri ID Anda.
Jika bukan Anda, segera atur ulang kata sandi lewat "Lupa kata sandi?" atau datang ke loket MPP.

---

Hello ${name},

Two-step verification (an authenticator app) was just turned on for your Kediri ID account.
If this was not you, reset your password now with "Forgot password?" or visit the MPP counter.
${SIGNATURE}`,
  };
}
