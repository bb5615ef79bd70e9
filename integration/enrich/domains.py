"""The registrable domain of a host ("mail.acme.co.uk" → "acme.co.uk"), from the Public Suffix List snapshot that
`tldextract` ships: never fetched (no suffix list URL), never cached to disk (no cache directory)."""
from __future__ import annotations

from functools import cache, lru_cache


@cache
def _extractor():
    import tldextract
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def host_of(url_or_host: str | None) -> str | None:
    """"https://www.Acme.com/about" → "www.acme.com"."""
    text = (url_or_host or "").strip().lower()
    if not text:
        return None
    host = text.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host.strip(".") or None


@lru_cache(maxsize=8192)
def registrable_domain(url_or_host: str | None) -> str | None:
    host = host_of(url_or_host)
    if not host or "." not in host:
        return None
    parts = _extractor()(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    # Reserved names the PSL does not list (.test, .example, .local: sandboxes and intranets): the last two labels
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 and all(labels[-2:]) else None
