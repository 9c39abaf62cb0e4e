#!/usr/bin/python3
"""A real SMTP server for baton's email tests: Debian's aiosmtpd on loopback.

Run with /usr/bin/python3 (Debian's python3-aiosmtpd lives in dist-packages).

    smtp_server.py --dir DIR [--cert C --key K [--require-starttls | --implicit-tls]]
                   [--user U --password P] [--reject-550 ADDR]... [--reject-451 ADDR]...
                   [--data-delay-ms N]

Binds 127.0.0.1 on a port the kernel picks and prints "PORT <n>" on stdout once
it accepts connections. With a cert and key it offers STARTTLS (and refuses
mail before it with --require-starttls), or speaks implicit TLS (SMTPS) with
--implicit-tls. With --user it requires AUTH (PLAIN or LOGIN; only after TLS
when TLS is offered, as aiosmtpd's auth_require_tls does). RCPT TO an address
given to --reject-550 is answered "550 5.1.1", one given to --reject-451
"451 4.3.0". With --data-delay-ms each DATA is answered that much later (the
most transactions waiting at once is kept in DIR/peak). Each accepted message is written atomically to DIR/NNNNNN.msg as

    from <envelope sender>
    rcpt <recipient>          (one line per recipient)
    secure <0|1>              (TLS was in use)
    user <login or empty>
    <empty line>
    <the message data, bytes as received>

It stops when stdin reaches end of file (the test process went away) or on
SIGTERM/SIGINT.
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys
import threading

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError as error:  # pragma: no cover - environment check
    sys.stderr.write(
        "smtp_server.py: aiosmtpd is not importable (%s); install Debian's "
        "python3-aiosmtpd and run this with /usr/bin/python3\n" % error)
    sys.exit(3)


class Recorder:
    """aiosmtpd handler: scripted RCPT answers, every message to a file."""

    def __init__(self, directory, reject_550, reject_451, data_delay=0.0):
        self.directory = directory
        self.data_delay = data_delay
        self.waiting = 0
        self.peak = 0
        self.reject_550 = {a.lower() for a in reject_550}
        self.reject_451 = {a.lower() for a in reject_451}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject_550:
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        if address.lower() in self.reject_451:
            return "451 4.3.0 <%s>: Temporary failure, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay > 0:
            with self.lock:
                self.waiting += 1
                if self.waiting > self.peak:
                    self.peak = self.waiting
                    peak = os.path.join(self.directory, "peak")
                    with open(peak + ".part", "w") as f:
                        f.write("%d\n" % self.peak)
                    os.rename(peak + ".part", peak)
            await asyncio.sleep(self.data_delay)
            with self.lock:
                self.waiting -= 1
        with self.lock:
            self.count += 1
            number = self.count
        user = ""
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode("utf-8", "replace")
        head = "from %s\n" % envelope.mail_from
        head += "".join("rcpt %s\n" % r for r in envelope.rcpt_tos)
        # session.ssl is set by STARTTLS; implicit TLS shows on the transport.
        transport = server.transport
        secure = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None)
        head += "secure %d\nuser %s\n\n" % (1 if secure else 0, user)
        content = envelope.original_content
        if isinstance(content, str):
            content = content.encode("utf-8")
        final = os.path.join(self.directory, "%06d.msg" % number)
        partial = final + ".part"
        with open(partial, "wb") as f:
            f.write(head.encode("utf-8") + content)
        os.rename(partial, final)  # readers never see half a message
        return "250 2.0.0 OK: queued as %06d" % number


class LoopbackController(Controller):
    """Controller on port 0: learns the port the kernel picked before aiosmtpd
    opens its start-up probe connection (1.4.3 would probe port 0)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--user")
    parser.add_argument("--password", default="")
    parser.add_argument("--reject-550", action="append", default=[])
    parser.add_argument("--reject-451", action="append", default=[])
    parser.add_argument("--data-delay-ms", type=int, default=0)
    args = parser.parse_args()

    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)

    kwargs = {"server_hostname": "localhost", "enable_SMTPUTF8": True}
    if tls is not None and args.implicit_tls:
        kwargs["ssl_context"] = tls
    elif tls is not None:
        kwargs["tls_context"] = tls
        kwargs["require_starttls"] = args.require_starttls
    if args.user:
        expected = LoginPassword(args.user.encode(), args.password.encode())

        def authenticator(server, session, envelope, mechanism, auth_data):
            # handled=False makes aiosmtpd answer "535 5.7.8" to bad credentials.
            return AuthResult(success=auth_data == expected, handled=False, auth_data=auth_data)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # AUTH only over TLS when TLS exists; plain-text AUTH otherwise (tests).
        kwargs["auth_require_tls"] = tls is not None

    handler = Recorder(args.dir, args.reject_550, args.reject_451, args.data_delay_ms / 1000.0)
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write("PORT %d\n" % controller.port)
    sys.stdout.flush()
    while not done.wait(1.0):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
