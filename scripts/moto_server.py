"""moto_server, answering one request at a time.

AWS applies each request atomically: two S3 PUTs with the same `If-Match`
ETag cannot both succeed. moto checks the condition and then stores the
object in whichever of its request threads runs, so two racing
compare-and-swap writes can both win and the store conformance suite sees a
lost update that real S3 would never produce. Holding one lock per request
gives the tests AWS's atomicity; connections are still accepted
concurrently. Takes moto_server's own arguments (`-H HOST -p PORT`).
"""

import threading

from moto import server

_one_request_at_a_time = threading.Lock()
_run_simple = server.run_simple


def _serialised(app):
    def application(environ, start_response):
        with _one_request_at_a_time:
            body = app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return application


def _run_simple_serialised(host, port, app, **options):
    _run_simple(host, port, _serialised(app), **options)


server.run_simple = _run_simple_serialised

if __name__ == "__main__":
    server.main()
