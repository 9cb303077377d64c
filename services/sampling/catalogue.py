"""Product-catalogue category codes, sampling flags and statuses: the shared vocabulary."""
from shared.vocabulary import CATALOGUE_2022, CATALOGUE_2024, CATALOGUES, FLAGS, LICENCE_STATUSES, PRODUCTION_STATUSES

__all__ = ["CATALOGUE_2022", "CATALOGUE_2024", "CATALOGUES", "FLAGS", "LICENCE_STATUSES", "PRODUCTION_STATUSES"]
