import { type FormEvent, type ReactNode, useEffect, useId, useRef } from "react";

import { Button } from "./Button";
import { ErrorAlert } from "./feedback";

interface DialogProps {
  open: boolean;
  title: string;
  description?: ReactNode;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  /** When given, the body is a form and Enter submits it. */
  onSubmit?: () => void;
  wide?: boolean;
}

/**
 * A modal on the native <dialog> element: the browser traps focus, restores it on close and
 * closes on Escape, so the dialog is keyboard- and screen-reader-friendly without a library.
 */
export function Dialog({ open, title, description, onClose, children, footer, onSubmit, wide }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit?.();
  };

  const body = (
    <>
      <div className="space-y-1 border-b border-slate-200 px-6 py-4">
        <h2 id={titleId} className="text-base font-semibold text-slate-900">
          {title}
        </h2>
        {description && (
          <div id={descriptionId} className="text-sm text-slate-500">
            {description}
          </div>
        )}
      </div>
      <div className="max-h-[65vh] space-y-4 overflow-y-auto px-6 py-5">{children}</div>
      {footer && <div className="flex justify-end gap-3 rounded-b-lg bg-slate-50 px-6 py-3">{footer}</div>}
    </>
  );

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      className={`m-auto w-full rounded-lg bg-white p-0 shadow-xl ${wide ? "max-w-2xl" : "max-w-lg"}`}
    >
      {open &&
        (onSubmit ? (
          <form onSubmit={submit} noValidate={false}>
            {body}
          </form>
        ) : (
          body
        ))}
    </dialog>
  );
}

interface ConfirmDialogProps {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  pending?: boolean;
  error?: unknown;
  tone?: "danger" | "primary";
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  pending,
  error,
  tone = "danger",
}: ConfirmDialogProps) {
  return (
    <Dialog
      open={open}
      title={title}
      onClose={onClose}
      onSubmit={onConfirm}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={pending}>
            Cancel
          </Button>
          <Button type="submit" variant={tone} loading={pending} autoFocus>
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div className="text-sm text-slate-600">{children}</div>
      {error != null && <ErrorAlert error={error} />}
    </Dialog>
  );
}
