/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * wstdio.c - the wide-character calls on the library's streams (stdio.c).
 * The C library makes cookie streams byte-oriented for good: its own wide
 * calls fail on them, or fault (fgetwc). On a stream of the library's they
 * are done here, on top of its byte calls, converting with the locale's
 * multibyte encoding as the C library's wide streams do; every other
 * stream goes to the C library's. The stream's orientation is kept here,
 * set by the first wide call or by fwide.
 */
#include "interpose/real.h"

#include <iconv.h>
#include <langinfo.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "os/critical.h"

/* The wide-oriented streams of the library's: few, looked up by address. */
static pthread_mutex_t wide_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE **wide;
static size_t nwide, wide_cap;

static bool is_wide(FILE *fp)
{
    bool found = false;
    nv_mutex_lock(&wide_lock);
    for (size_t i = 0; i < nwide && !found; i++)
        found = wide[i] == fp;
    nv_mutex_unlock(&wide_lock);
    return found;
}

static void set_wide(FILE *fp)
{
    if (is_wide(fp))
        return;
    nv_mutex_lock(&wide_lock);
    if (nwide == wide_cap) {
        size_t cap = wide_cap ? wide_cap * 2 : 8;
        FILE **n = realloc(wide, cap * sizeof(*n));
        if (n) {
            wide = n;
            wide_cap = cap;
        }
    }
    if (nwide < wide_cap)
        wide[nwide++] = fp;
    nv_mutex_unlock(&wide_lock);
}

void nv_wide_forget(FILE *fp)
{
    nv_mutex_lock(&wide_lock);
    for (size_t i = 0; i < nwide; i++)
        if (wide[i] == fp)
            wide[i--] = wide[--nwide];
    nv_mutex_unlock(&wide_lock);
}

NV_EXPORT int fwide(FILE *fp, int mode)
{
    if (!nv_stdio_managed(fp))
        return REAL(fwide)(fp, mode);
    if (mode > 0)
        set_wide(fp);
    /* Byte orientation is not told apart from none: byte calls never
     * come here. */
    return is_wide(fp) ? 1 : 0;
}

/* ---- writing */

/* wc in the locale's multibyte encoding, into buf (cap bytes): the count,
 * or -1 with errno EILSEQ. The C library's wide streams transliterate what
 * the encoding lacks (in the C locale U+00E9 becomes "?" and U+20AC
 * "EUR"); iconv does the same with the locale's tables. */
static size_t to_bytes(wchar_t wc, char *buf, size_t cap)
{
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    size_t n = wcrtomb(buf, wc, &st);
    if (n != (size_t)-1)
        return n;
    char to[64];
    snprintf(to, sizeof(to), "%s//TRANSLIT", nl_langinfo(CODESET));
    iconv_t cd = iconv_open(to, "WCHAR_T");
    if (cd == (iconv_t)-1) {
        errno = EILSEQ;
        return (size_t)-1;
    }
    char *in = (char *)&wc, *out = buf;
    size_t in_left = sizeof(wc), out_left = cap;
    n = iconv(cd, &in, &in_left, &out, &out_left);
    iconv_close(cd);
    if (n == (size_t)-1 || in_left) {
        errno = EILSEQ;
        return (size_t)-1;
    }
    return cap - out_left;
}

static wint_t put_wc(wchar_t wc, FILE *fp)
{
    char buf[64];
    size_t n = to_bytes(wc, buf, sizeof(buf));
    set_wide(fp);
    if (n == (size_t)-1)
        return WEOF;
    return fwrite(buf, 1, n, fp) == n ? (wint_t)wc : WEOF;
}

#define PUT_WC(name)                                                                               \
    NV_EXPORT wint_t name(wchar_t wc, FILE *fp)                                                    \
    {                                                                                              \
        return nv_stdio_managed(fp) ? put_wc(wc, fp) : REAL(name)(wc, fp);                         \
    }
PUT_WC(fputwc)
PUT_WC(putwc)
PUT_WC(fputwc_unlocked)
PUT_WC(putwc_unlocked)

static int put_ws(const wchar_t *ws, FILE *fp)
{
    for (; *ws; ws++)
        if (put_wc(*ws, fp) == WEOF)
            return -1;
    set_wide(fp);
    return 1;
}

#define PUT_WS(name)                                                                               \
    NV_EXPORT int name(const wchar_t *ws, FILE *fp)                                                \
    {                                                                                              \
        return nv_stdio_managed(fp) ? put_ws(ws, fp) : REAL(name)(ws, fp);                         \
    }
PUT_WS(fputws)
PUT_WS(fputws_unlocked)

/* The wide characters of fmt written to fp: their count, or -1. */
static int print_wide(FILE *fp, const wchar_t *fmt, va_list ap)
{
    size_t cap = 256;
    wchar_t *buf = NULL;
    int n = -1;
    for (int tries = 0; tries < 16 && n < 0; tries++, cap *= 4) {
        wchar_t *grown = realloc(buf, cap * sizeof(*buf));
        if (!grown)
            break;
        buf = grown;
        va_list again;
        va_copy(again, ap);
        n = vswprintf(buf, cap, fmt, again);
        va_end(again);
        if (n < 0 && cap > (size_t)INT_MAX / 4)
            break;
    }
    if (n >= 0 && put_ws(buf, fp) < 0)
        n = -1;
    free(buf);
    return n;
}

NV_EXPORT int vfwprintf(FILE *fp, const wchar_t *fmt, va_list ap)
{
    return nv_stdio_managed(fp) ? print_wide(fp, fmt, ap) : REAL(vfwprintf)(fp, fmt, ap);
}

NV_EXPORT int fwprintf(FILE *fp, const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfwprintf(fp, fmt, ap);
    va_end(ap);
    return n;
}

NV_EXPORT int __vfwprintf_chk(FILE *fp, int flag, const wchar_t *fmt, va_list ap)
{
    return nv_stdio_managed(fp) ? print_wide(fp, fmt, ap)
                                : REAL(__vfwprintf_chk)(fp, flag, fmt, ap);
}

NV_EXPORT int __fwprintf_chk(FILE *fp, int flag, const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = __vfwprintf_chk(fp, flag, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- reading */

static wint_t get_wc(FILE *fp)
{
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    set_wide(fp);
    for (;;) {
        int c = fgetc(fp);
        if (c == EOF)
            return WEOF;
        char byte = (char)c;
        wchar_t wc;
        size_t r = mbrtowc(&wc, &byte, 1, &st);
        if (r == (size_t)-2)
            continue;
        if (r == (size_t)-1)
            return WEOF; /* errno is EILSEQ */
        return (wint_t)(r == 0 ? L'\0' : wc);
    }
}

#define GET_WC(name)                                                                               \
    NV_EXPORT wint_t name(FILE *fp)                                                                \
    {                                                                                              \
        return nv_stdio_managed(fp) ? get_wc(fp) : REAL(name)(fp);                                 \
    }
GET_WC(fgetwc)
GET_WC(getwc)
GET_WC(fgetwc_unlocked)
GET_WC(getwc_unlocked)

static wchar_t *get_ws(wchar_t *ws, int n, FILE *fp)
{
    if (n <= 0)
        return NULL;
    int i = 0;
    while (i < n - 1) {
        wint_t wc = get_wc(fp);
        if (wc == WEOF)
            break;
        ws[i++] = (wchar_t)wc;
        if (wc == L'\n')
            break;
    }
    if (i == 0 || ferror(fp))
        return NULL;
    ws[i] = L'\0';
    return ws;
}

#define GET_WS(name)                                                                               \
    NV_EXPORT wchar_t *name(wchar_t *ws, int n, FILE *fp)                                          \
    {                                                                                              \
        return nv_stdio_managed(fp) ? get_ws(ws, n, fp) : REAL(name)(ws, n, fp);                   \
    }
GET_WS(fgetws)
GET_WS(fgetws_unlocked)

NV_EXPORT wint_t ungetwc(wint_t wc, FILE *fp)
{
    if (!nv_stdio_managed(fp))
        return REAL(ungetwc)(wc, fp);
    char buf[MB_LEN_MAX];
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    size_t n = wc == WEOF ? (size_t)-1 : wcrtomb(buf, (wchar_t)wc, &st);
    if (n == (size_t)-1)
        return WEOF;
    while (n > 0)
        if (ungetc((unsigned char)buf[--n], fp) == EOF)
            return WEOF;
    return wc;
}
