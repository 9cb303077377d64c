"""Inspection service: the on-site record (一企一表, 附件2), evidence, signatures, problem summary (附件1),
steel and cement production-status forms (附件3/4), team reports."""
