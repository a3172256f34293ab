import type { ActorType } from '../ledger/domain';

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

export function actorOf(principal: Principal): { type: ActorType; id: string } {
  switch (principal.role) {
    case 'operator':
      return { type: 'operator', id: 'operator' };
    case 'parent':
      return { type: 'parent', id: principal.parentId };
    case 'sub-account':
      return { type: 'sub-account', id: principal.subAccountId };
  }
}
