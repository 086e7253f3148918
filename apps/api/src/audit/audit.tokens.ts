export const AUDIT_SIGNING = Symbol('AuditSigning');
export const AUDIT_EXPORTS_QUEUE = Symbol('AuditExportsQueue');
export const AUDIT_EXPORTS_DIR = Symbol('AuditExportsDir');
