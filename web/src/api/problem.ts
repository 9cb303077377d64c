// RFC 9457 problem+json as the services send it: a Chinese title, a detail, field errors.
export interface FieldError {
  field: string
  message: string
}

export interface ProblemBody {
  type?: string
  title?: string
  status?: number
  detail?: string
  instance?: string
  errors?: FieldError[]
  [extra: string]: unknown
}

export class ApiError extends Error {
  readonly status: number
  readonly title: string
  readonly detail?: string
  readonly type?: string
  readonly errors: FieldError[]

  constructor(status: number, body: ProblemBody | null) {
    const title = body?.title || statusTitle(status)
    super(body?.detail ? `${title}：${body.detail}` : title)
    this.status = status
    this.title = title
    this.detail = body?.detail
    this.type = body?.type
    this.errors = Array.isArray(body?.errors) ? body!.errors!.filter((e) => e && typeof e.field === 'string') : []
  }

  /** Field errors by the last path element ("body.seed" → "seed"), for `<el-form-item :error>`. */
  get fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const e of this.errors) {
      const key = e.field.split('.').filter((p) => p !== 'body').join('.') || e.field
      out[key] = out[key] ? `${out[key]}；${e.message}` : e.message
    }
    return out
  }
}

export function statusTitle(status: number): string {
  if (status === 0) return '无法连接服务器，请检查网络'
  if (status === 401) return '登录已失效，请重新登录'
  if (status === 403) return '无权执行此操作'
  if (status === 404) return '资源不存在'
  if (status === 429) return '请求过于频繁，请稍后再试'
  if (status >= 500) return '服务暂不可用，请稍后再试'
  return '请求失败'
}

/** Read a failed response as a problem, whatever its content type. */
export async function problemFrom(response: Response): Promise<ApiError> {
  let body: ProblemBody | null = null
  try {
    const text = await response.text()
    body = text ? (JSON.parse(text) as ProblemBody) : null
  } catch {
    body = null
  }
  return new ApiError(response.status, body)
}

export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err && typeof err === 'object' && ('title' in err || 'detail' in err)) {
    return new ApiError((err as ProblemBody).status ?? 400, err as ProblemBody)
  }
  return new ApiError(0, { title: statusTitle(0), detail: err instanceof Error ? err.message : String(err) })
}
