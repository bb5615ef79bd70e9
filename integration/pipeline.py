"""The flow of one lead after intake (DESIGN.md steps 2-10). Platform-neutral; driven through CRMAdapter."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from integration.dedup_index import forget_record, index_record
from integration.protocols import CRMAdapter
from integration.records import Record

log = logging.getLogger("leadrelay.pipeline")


def process_records(session: Session, tenant_id: int, adapter: CRMAdapter, object_type: str,
                    records: list[Record], gone: list[str]) -> None:
    """Handle records that changed in the CRM (fetched in one batch) and ids that no longer exist.

    Today: keep the dedup index fresh. The pipeline issue adds normalize → dedup → qualify → route → write.
    """
    for record in records:
        index_record(session, tenant_id, record)
    for object_id in gone:
        forget_record(session, tenant_id, object_type, object_id)
    log.info("pipeline.processed", extra={"tenant_id": tenant_id, "records": len(records), "gone": len(gone)})
