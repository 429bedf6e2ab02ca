"""A dev-only page listing the mails the demo's SMTP sink received and the LINE messages the
LINE stand-in received (never used in production)."""

from __future__ import annotations

import email
import email.policy
import html
import json
import threading
from email.header import decode_header, make_header
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _address(msg: EmailMessage, name: str) -> str:
    """An address header as a mail client shows it. The parsed header of policy.default keeps
    the space between two adjacent encoded-words of a display name (「見守りサービ ス」),
    which RFC 2047 says to drop: decode the raw value instead."""
    raw = next((value for key, value in msg.raw_items() if key.lower() == name.lower()), "")
    return str(make_header(decode_header(raw))) if raw else ""


def _text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def _line(path: Path) -> dict:
    return json.loads(path.read_text())


def _line_texts(record: dict) -> list[str]:
    texts = []
    for message in record.get("messages", []):
        if message.get("type") == "text":
            texts.append(str(message.get("text", "")))
        elif message.get("type") == "template":
            labels = [a.get("label", "") for a in message["template"].get("actions", [])]
            texts.append(f"{message['template'].get('text', '')} ［{' / '.join(labels)}］")
    return texts


def _line_row(path: Path) -> str:
    record = _line(path)
    first = (_line_texts(record) or [""])[0].splitlines()
    return (
        "<tr><td>LINE</td><td>{to}</td><td><a href='/mail/{name}'>{subject}</a></td></tr>".format(
            to=html.escape(f"LINE: {record.get('name') or record.get('to', '')}"),
            name=html.escape(path.name),
            subject=html.escape(first[0] if first else "(LINE)"),
        )
    )


def render_index(maildir: Path) -> str:
    """Mail and the LINE stand-in's pushes (<time_ns>-line-<n>.json), newest first."""
    rows = []
    paths = [*maildir.glob("*.eml"), *maildir.glob("*-line-*.json")]
    for path in sorted(paths, key=lambda p: p.name, reverse=True):
        if path.suffix == ".json":
            rows.append(_line_row(path))
            continue
        msg = _read(path)
        rows.append(
            "<tr><td>{date}</td><td>{to}</td>"
            "<td><a href='/mail/{name}'>{subject}</a></td></tr>".format(
                date=html.escape(str(msg["Date"] or "")),
                to=html.escape(_address(msg, "To")),
                name=html.escape(path.name),
                subject=html.escape(str(msg["Subject"] or "(件名なし)")),
            )
        )
    body = "".join(rows) or "<tr><td colspan=3>まだメールはありません</td></tr>"
    return (
        "<!doctype html><html lang=ja><meta charset=utf-8><meta http-equiv=refresh content=5>"
        "<title>開発用メール受信箱</title><h1>開発用メール受信箱 (demo SMTP sink)</h1>"
        "<table border=1 cellpadding=4><tr><th>日時</th><th>宛先</th><th>件名</th></tr>"
        f"{body}</table>"
    )


def render_message(path: Path) -> str:
    if path.suffix == ".json":
        record = _line(path)
        texts = "\n\n".join(_line_texts(record))
        return (
            "<!doctype html><html lang=ja><meta charset=utf-8><title>LINE</title>"
            "<p><a href='/'>一覧へ戻る</a></p>"
            f"<p><b>LINE:</b> {html.escape(str(record.get('name') or record.get('to')))}</p>"
            f"<pre style='white-space:pre-wrap'>{html.escape(texts)}</pre>"
        )
    msg = _read(path)
    return (
        "<!doctype html><html lang=ja><meta charset=utf-8><title>メール</title>"
        "<p><a href='/'>一覧へ戻る</a></p>"
        f"<p><b>件名:</b> {html.escape(str(msg['Subject']))}<br>"
        f"<b>宛先:</b> {html.escape(_address(msg, 'To'))}<br>"
        f"<b>差出人:</b> {html.escape(_address(msg, 'From'))}</p>"
        f"<pre style='white-space:pre-wrap'>{html.escape(_text_body(msg))}</pre>"
    )


def serve(maildir: Path, host: str, port: int) -> ThreadingHTTPServer:
    """Start the page in a daemon thread and return the server (call .shutdown() to stop)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                self._send(200, render_index(maildir))
                return
            name = self.path.removeprefix("/mail/")
            path = maildir / name
            if "/" in name or not path.is_file():
                self._send(404, "<p>見つかりません</p>")
                return
            self._send(200, render_message(path))

        def _send(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            return

    maildir.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
