import { useId } from "react";

import type { ApiKeyCreated } from "../../api/client";
import { Button } from "../../components/Button";
import { CopyButton } from "../../components/CopyButton";
import { Dialog } from "../../components/Dialog";
import { controlClass } from "../../components/Field";
import { Notice } from "../../components/feedback";

/** Shows a new key's secret, the only time the server ever returns it. */
export function RevealKeyDialog({ created, onClose }: { created: ApiKeyCreated | null; onClose: () => void }) {
  const inputId = useId();
  return (
    <Dialog
      open={created !== null}
      title="Your new API key"
      onClose={onClose}
      footer={<Button onClick={onClose}>I have stored the key</Button>}
    >
      <Notice tone="warning">
        <strong>Copy this key now — you will not see it again.</strong> Only a hash of it is kept, so it cannot be
        shown later. If you lose it, revoke it and create a new one.
      </Notice>
      <div className="space-y-1.5">
        <label htmlFor={inputId} className="block text-sm font-medium text-slate-800">
          API key “{created?.name}”
        </label>
        <div className="flex items-start gap-2">
          <textarea
            id={inputId}
            readOnly
            rows={2}
            spellCheck={false}
            value={created?.key ?? ""}
            className={`${controlClass} resize-none break-all font-mono`}
            onFocus={(event) => event.currentTarget.select()}
            data-testid="revealed-api-key"
          />
          <CopyButton text={created?.key ?? ""} />
        </div>
      </div>
      <p className="text-sm text-slate-500">
        Send it as <code className="font-mono text-xs">Authorization: Bearer &lt;key&gt;</code>.
      </p>
    </Dialog>
  );
}
