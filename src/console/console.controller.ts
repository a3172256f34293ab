import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { loadConsoleAssets, type ConsoleAsset } from './console-assets';

/**
 * Only this origin's scripts, styles and API: no inline script, nothing from a CDN, no framing. The
 * key typed in the page is held in sessionStorage, so a script injected from elsewhere is what would
 * steal it; this policy is the second wall after the page building its DOM with textContent only.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * `/console` (SPEC §12): a single page that signs in with a key and calls the public `/v1` API with
 * it, so it sees exactly what that key may see. It needs no route of its own beyond its files.
 */
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  private readonly assets = loadConsoleAssets();

  @Get()
  page(@Res() reply: FastifyReply): void {
    if (!this.assets.page) {
      throw new NotFoundException(`The console's files are not installed: ${this.assets.dir} is missing.`);
    }
    send(reply, this.assets.page);
  }

  @Get(':file')
  file(@Param('file') file: string, @Res() reply: FastifyReply): void {
    send(reply, this.asset(file));
  }

  @Get('vendor/:file')
  vendor(@Param('file') file: string, @Res() reply: FastifyReply): void {
    send(reply, this.asset(`vendor/${file}`));
  }

  private asset(name: string): ConsoleAsset {
    const asset = this.assets.files.get(name);
    if (!asset) throw new NotFoundException(`The console has no file ${name}.`);
    return asset;
  }
}

function send(reply: FastifyReply, asset: ConsoleAsset): void {
  void reply.headers(SECURITY_HEADERS).type(asset.contentType).send(asset.body);
}
