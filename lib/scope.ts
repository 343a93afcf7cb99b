/** RFC 6749 §3.3 (and RFC 6750 §3): `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/
