/* sl_msg.h: error-message building for code that runs after fork (no stdio, no malloc). */
#ifndef SL_MSG_H
#define SL_MSG_H

#include <stddef.h>
#include <stdint.h>

/* A NUL-terminated message in a caller-provided buffer; text past cap-1 is dropped. */
struct sl_msg {
	char *buf;
	size_t cap, len;
};

void sl_msg_init(struct sl_msg *m, char *buf, size_t cap);
void sl_msg_str(struct sl_msg *m, const char *s);
void sl_msg_uint(struct sl_msg *m, uint64_t v);
void sl_msg_quote(struct sl_msg *m, const char *s);
/* sl_msg_fail appends ": <strerror(err)>" and returns -err. */
int sl_msg_fail(struct sl_msg *m, int err);

#endif
