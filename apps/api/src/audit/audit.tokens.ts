export const AUDIT_SIGNING = Symbol('AuditSigning');
