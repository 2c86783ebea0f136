// Types of index.js, over the schema generated from the OpenAPI document (schema.d.ts).
import type { components, operations, paths } from "./schema";

export type { components, operations, paths };
export type Schemas = components["schemas"];
export type JobOut = Schemas["JobOut"];
export type ShareOut = Schemas["ShareOut"];
export type Operations = Schemas["Body_create_job"]["operations"];

export declare const API_VERSION: string;
export declare const SIGNATURE_HEADER: "Heirloom-Signature";
export declare const FINAL_EVENTS: ReadonlySet<string>;

export declare class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly apiMessage: string;
  static from(response: Response): Promise<ApiError>;
}

export interface JobEvent {
  type: string;
  id: number | null;
  data: { id?: number; type?: string; job?: Record<string, unknown>; error?: Schemas["ErrorBody"] };
}

export declare class Heirloom {
  constructor(options: { baseUrl: string; apiKey: string; fetch?: typeof fetch });
  request<T = unknown>(
    method: string,
    path: keyof paths | string,
    options?: {
      query?: Record<string, string | number | boolean | undefined | null>;
      json?: unknown;
      form?: FormData;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    },
  ): Promise<T>;
  upload(
    photo: Blob | ArrayBuffer | Uint8Array,
    operations?: Operations,
    options?: { fileName?: string; idempotencyKey?: string; callbackUrl?: string },
  ): Promise<JobOut>;
  job(jobId: string): Promise<JobOut>;
  events(jobId: string, options?: { after?: number; signal?: AbortSignal }): AsyncGenerator<JobEvent>;
  wait(jobId: string, options?: { timeoutMs?: number }): Promise<JobOut>;
  downloadResult(jobId: string): Promise<Uint8Array>;
  share(jobId: string, options?: { expiresInS?: number; allowDownload?: boolean }): Promise<ShareOut>;
}

export declare function serverSentEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<JobEvent>;

export declare function verifyWebhook(
  body: string | ArrayBuffer | Uint8Array,
  header: string,
  secrets: string | string[],
  options?: { toleranceS?: number; now?: number },
): Promise<boolean>;
