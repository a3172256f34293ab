import type { ApiResponse } from './service';

/*
 * Holds real answers to the OpenAPI document the service serves: each answer's status must be one
 * the route documents, and its body must match the documented schema, strictly: a member the schema
 * does not name is a mismatch too, so the document cannot fall behind what the routes answer.
 * Covers the part of JSON Schema the document uses: $ref, type, nullable, enum, properties,
 * required, additionalProperties, items, oneOf, allOf.
 */

type Schema = Record<string, any>;

export interface Operation {
  readonly method: string;
  readonly template: string;
  readonly operation: any;
}

export class OpenApiConformance {
  private readonly operations: { method: string; template: string; pattern: RegExp; operation: any }[] = [];
  readonly problems: string[] = [];
  /** `METHOD template` of every operation answered with a 2xx. */
  readonly succeeded = new Set<string>();

  constructor(private readonly document: any) {
    for (const [template, item] of Object.entries<any>(document.paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const [method, operation] of Object.entries<any>(item)) {
        this.operations.push({ method: method.toUpperCase(), template, pattern, operation });
      }
    }
  }

  /** Every operation of the document, as `METHOD template`. */
  all(): string[] {
    return this.operations.map(({ method, template }) => `${method} ${template}`);
  }

  /** Checks one answer; mismatches are collected in `problems`. Returns the response for chaining. */
  check<T>(method: string, url: string, response: ApiResponse<T>): ApiResponse<T> {
    const pathOnly = url.split('?')[0];
    // Literal segments win over parameters (`…/usage/batch` is not `…/sub-accounts/{s}`).
    const candidates = this.operations
      .filter((op) => op.method === method && op.pattern.test(pathOnly))
      .sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
    const found = candidates[0];
    const where = `${method} ${url} → ${response.status}`;
    if (!found) {
      this.problems.push(`${where}: no such operation in the document`);
      return response;
    }
    const documented = found.operation.responses[String(response.status)];
    if (!documented) {
      this.problems.push(`${where}: status not documented for ${found.template}`);
      return response;
    }
    if (response.status >= 200 && response.status < 300) this.succeeded.add(`${method} ${found.template}`);
    if (response.status === 204) return response;
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0].trim();
    const media = documented.content?.[contentType];
    if (!media) {
      this.problems.push(`${where}: content type ${contentType} not documented`);
      return response;
    }
    this.validate(media.schema, response.body, `${where} body`);
    return response;
  }

  private resolve(schema: Schema): Schema {
    let resolved = schema;
    while (resolved.$ref) {
      const name = String(resolved.$ref).replace('#/components/schemas/', '');
      resolved = this.document.components.schemas[name];
    }
    return resolved;
  }

  private validate(raw: Schema, value: unknown, at: string): void {
    const schema = this.resolve(raw);
    if (value === null) {
      if (!schema.nullable) this.problems.push(`${at}: null where the schema does not allow it`);
      return;
    }
    if (schema.allOf) {
      // How Nest writes a nullable reference: {nullable, allOf: [{$ref}]}.
      for (const part of schema.allOf as Schema[]) this.validate(part, value, at);
      return;
    }
    if (schema.oneOf) {
      const matching = (schema.oneOf as Schema[]).filter((option) => {
        const before = this.problems.length;
        this.validate(option, value, at);
        const ok = this.problems.length === before;
        this.problems.length = before;
        return ok;
      });
      if (matching.length !== 1) this.problems.push(`${at}: matches ${matching.length} of oneOf`);
      return;
    }
    if (schema.enum && !schema.enum.includes(value)) {
      this.problems.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
    }
    switch (schema.type) {
      case 'string':
      case 'boolean':
        if (typeof value !== schema.type)
          this.problems.push(`${at}: ${JSON.stringify(value)} is not a ${schema.type}`);
        return;
      case 'number':
      case 'integer':
        if (typeof value !== 'number') this.problems.push(`${at}: ${JSON.stringify(value)} is not a number`);
        return;
      case 'array':
        if (!Array.isArray(value)) this.problems.push(`${at}: not an array`);
        else value.forEach((item, i) => this.validate(schema.items ?? {}, item, `${at}[${i}]`));
        return;
      case 'object':
      case undefined: {
        if (schema.type === undefined && !schema.properties) return; // any
        if (typeof value !== 'object' || Array.isArray(value)) {
          this.problems.push(`${at}: not an object`);
          return;
        }
        const record = value as Record<string, unknown>;
        for (const name of schema.required ?? []) {
          if (!(name in record)) this.problems.push(`${at}: missing required ${name}`);
        }
        for (const [name, member] of Object.entries(record)) {
          const property = schema.properties?.[name];
          if (property) this.validate(property, member, `${at}.${name}`);
          else if (typeof schema.additionalProperties === 'object') {
            this.validate(schema.additionalProperties, member, `${at}.${name}`);
          } else if (schema.additionalProperties !== true) {
            this.problems.push(`${at}: ${name} is not in the schema`);
          }
        }
        return;
      }
    }
  }
}
