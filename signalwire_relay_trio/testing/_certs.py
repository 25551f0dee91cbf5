"""A throw-away certificate authority for ``wss://`` on loopback (``--tls``).

trustme makes it; it is imported only when TLS is asked for, and a clear
error says how to get it when it is missing (it comes with the ``test``
extra).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Sequence

__all__ = ["TRUSTME_MISSING", "ThrowawayTLS"]

TRUSTME_MISSING = (
    "a throw-away certificate needs trustme: "
    "pip install 'signalwire-relay-trio[test]' (or pip install trustme)"
)


class ThrowawayTLS:
    """A fresh CA, a server certificate for ``hosts`` signed by it, and the CA's PEM file.

    ``ca_file`` is written at once (to ``ca_file`` if given, else to a new
    temporary file that :meth:`remove` deletes). ``server_context`` serves
    ``wss://``; ``client_context()`` trusts the CA.
    """

    def __init__(
        self, hosts: Sequence[str] = ("127.0.0.1", "localhost"), ca_file: str | None = None
    ) -> None:
        try:
            import trustme
        except ImportError:
            raise RuntimeError(TRUSTME_MISSING) from None
        authority = trustme.CA()
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert(*hosts).configure_cert(self.server_context)
        self._owned = ca_file is None
        if ca_file is None:
            handle, ca_file = tempfile.mkstemp(prefix="fake-relay-ca-", suffix=".pem")
            os.close(handle)
        authority.cert_pem.write_to_path(ca_file)
        self.ca_file = os.path.abspath(ca_file)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def remove(self) -> None:
        """Delete the CA file if this object made it up (not a ``--ca-file`` path)."""
        if self._owned:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.ca_file)
