export type Role = 'operator' | 'parent' | 'sub-account';

/** Who a request is authenticated as; set on the request by the guard. */
export type Principal =
  | { readonly role: 'operator' }
  | { readonly role: 'parent'; readonly parentId: string; readonly keyId: string }
  | {
      readonly role: 'sub-account';
      readonly parentId: string;
      readonly subAccountId: string;
      readonly keyId: string;
    };
