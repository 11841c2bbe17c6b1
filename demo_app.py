"""A TCP echo server on minitornado: every line a client sends comes straight back.

    python demo_app.py --port 8000        then, in another terminal:  nc 127.0.0.1 8000

Ctrl-C stops it. (A later version of this demo serves HTTP instead.)
"""

import argparse
import asyncio

from minitornado.iostream import IOStream, StreamClosedError
from minitornado.netutil import bind_sockets
from minitornado.tcpserver import TCPServer


class EchoServer(TCPServer):
    async def handle_stream(self, stream: IOStream, address: object) -> None:
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass  # the client hung up


async def main(port: int, address: str) -> None:
    server = EchoServer()
    # What server.listen(port, address) does, spelled out so we can print the port that
    # the kernel picked when --port is 0.
    sockets = bind_sockets(port, address)
    server.add_sockets(sockets)
    host, bound_port = sockets[0].getsockname()[:2]
    print(f"Echo server listening on {host}:{bound_port}", flush=True)
    try:
        await asyncio.Event().wait()  # serve until cancelled (Ctrl-C)
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port, args.address))
    except KeyboardInterrupt:
        # asyncio.run cancelled main() on SIGINT, so server.stop() already ran.
        print("Stopped.")
