"""Names used in Chinese messages: Shanxi cities and the product catalogue (shared vocabulary)."""
from shared.vocabulary import CATEGORY_NAMES, CITY_NAMES, category_name, category_names, city_name, city_of, county_of

__all__ = ["CATEGORY_NAMES", "CITY_NAMES", "category_name", "category_names", "city_name", "city_of", "county_of"]
