"""Mappings: how each stored format provides the universal fields of the meta-model.

Requires: the packaged `<format>.yaml` files beside this module (or any file given to
`load_mapping_file`). Guarantees: the meta-model is defined once (`metamodel`), mapping files
load into validated, frozen `Mapping` objects (`model`, `loader`), and every problem in a file
is a `MappingError` naming the file, line and column. See README.md for the file format.
"""

from starbase.mappings.loader import (
    Located,
    MappingError,
    available_formats,
    load_mapping,
    load_mapping_file,
)
from starbase.mappings.metamodel import (
    LEVEL_TEXT_GROUPS,
    LEVEL_TEXT_PATTERN,
    LEVELS,
    UNIVERSAL_BY_NAME,
    UNIVERSAL_FIELDS,
    FieldType,
    UniversalField,
)
from starbase.mappings.model import (
    AGGREGATES,
    BACKENDS,
    COLUMN_TYPES,
    EPOCH_UNITS,
    FUNCTIONS,
    OPERATORS,
    REGEX_FLAGS,
    STAGES,
    TRANSFORM_FORMATS,
    AbsentField,
    Capabilities,
    ColumnField,
    EpochField,
    ExprField,
    FieldMapping,
    JsonMapField,
    LevelFromTextField,
    MapField,
    MapKeyField,
    Mapping,
    Partition,
    Profile,
    RegexExtractField,
    SourceNameField,
)

__all__ = [
    "AGGREGATES",
    "BACKENDS",
    "COLUMN_TYPES",
    "EPOCH_UNITS",
    "FUNCTIONS",
    "LEVELS",
    "LEVEL_TEXT_GROUPS",
    "LEVEL_TEXT_PATTERN",
    "OPERATORS",
    "REGEX_FLAGS",
    "STAGES",
    "TRANSFORM_FORMATS",
    "UNIVERSAL_BY_NAME",
    "UNIVERSAL_FIELDS",
    "AbsentField",
    "Capabilities",
    "ColumnField",
    "EpochField",
    "ExprField",
    "FieldMapping",
    "FieldType",
    "JsonMapField",
    "LevelFromTextField",
    "Located",
    "MapField",
    "MapKeyField",
    "Mapping",
    "MappingError",
    "Partition",
    "Profile",
    "RegexExtractField",
    "SourceNameField",
    "UniversalField",
    "available_formats",
    "load_mapping",
    "load_mapping_file",
]
