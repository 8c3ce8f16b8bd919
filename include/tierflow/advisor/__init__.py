"""The query advisor: reads the query history of every engine analysts use, groups the queries by
shape, and turns the frequent, expensive aggregate shapes into dbt models with a proven rewrite.

``history`` reads the engines, ``fingerprint`` names each shape, ``shape`` decides whether a shape
can be promoted, ``model`` writes the dbt model and the rewrite, ``proof`` runs both, and ``advise``
puts them together into a ranked report (docs/advisor.md).
"""
