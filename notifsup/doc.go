// Package notifsup is the supervisor's seccomp user-notification loop: it receives the
// notifications a container's filter raises and answers them (for example uname() with the
// container's hostname), bracketing every read or write of child memory with
// SECCOMP_IOCTL_NOTIF_ID_VALID.
package notifsup
