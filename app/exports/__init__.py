"""Writers that turn one patient's gathered record into a file: PDF, CSV or a FHIR R4 Bundle.

They format only; app/services/exports.py gathers the record, checks permission and audits.
"""
