"""berth registry client: Registry HTTP API v2 / OCI distribution"""
