"""A webhook receiver for ecrscan's delivery tests, checking every signature
with the Standard Webhooks reference library (standardwebhooks on PyPI).

    python webhook_receiver.py PORT SECRET LOG SCRIPT

Answers the requests in turn as SCRIPT says (comma-separated: `500`, `reset`
to close the connection without an answer, `ok`; `ok` once the script is
used up). Writes one JSON line per request to LOG: the webhook-id, what was
answered, and for verified requests the CloudEvent's id and type. Prints
`ready` once it listens.
"""

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

port, secret, log_path, script = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
answers = [a for a in script.split(",") if a]
webhook = Webhook(secret)


def log(entry):
    with open(log_path, "a", encoding="utf-8") as log_file:
        log_file.write(json.dumps(entry) + "\n")


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        answer = answers.pop(0) if answers else "ok"
        entry = {"webhook_id": self.headers.get("webhook-id"), "answer": answer}
        if answer == "reset":
            log(entry)
            self.close_connection = True
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.close()
            return
        if answer == "ok":
            try:
                payload = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as err:
                entry.update(answer="rejected", error=str(err))
                log(entry)
                self.send_response(400)
                self.end_headers()
                return
            entry.update(id=payload["id"], type=payload["type"], data=payload["data"])
            log(entry)
            self.send_response(204)
            self.end_headers()
            return
        log(entry)
        self.send_response(int(answer))
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", port), Receiver)
print("ready", flush=True)
server.serve_forever()
